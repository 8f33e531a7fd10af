#!/bin/bash
# The right pane of the `claude` session: always a shell. One that exits is replaced at once
# (a shell that cannot even start is retried once a second).
#
# After a wake from a stop, the pane's first screen is where the user left off: the agent's
# checkpoint before the stop, shown once (python -m agent.resume; -I: nothing in the working folder
# can pass for the agent's modules).
AGENT_PYTHON="${AGENT_PYTHON:-/opt/claudecloud/agent/bin/python}"
if [ -x "$AGENT_PYTHON" ]; then
    "$AGENT_PYTHON" -I -m agent.resume 2>/dev/null
fi
while true; do
    started=$SECONDS
    bash -l
    if [ "$SECONDS" -eq "$started" ]; then
        sleep 1
    fi
    echo "(shell restarted)"  # short: the pane is 23 columns wide in an 80-column window
done
