#!/bin/bash
# The right pane of the `claude` session: always a shell. One that exits is replaced at once
# (a shell that cannot even start is retried once a second).
while true; do
    started=$SECONDS
    bash -l
    if [ "$SECONDS" -eq "$started" ]; then
        sleep 1
    fi
    echo "(shell restarted)"  # short: the pane is 23 columns wide in an 80-column window
done
