#!/bin/bash
# The detached tmux session `claude`: a Claude pane (70%) beside a shell pane (30%). Runs as long
# as the session exists, so the supervisor recreates the session when it is gone.
set -uo pipefail

SESSION="${TMUX_SESSION:-claude}"
WORKDIR="${HOME:-/claude-data}"

if ! tmux has-session -t "$SESSION" 2>/dev/null; then
    tmux new-session -d -s "$SESSION" -x 200 -y 50 -c "$WORKDIR" /opt/claudecloud/bin/claude-pane.sh
    tmux split-window -h -l 30% -t "$SESSION" -c "$WORKDIR"
    tmux select-pane -t "$SESSION:0.0"
fi
while tmux has-session -t "$SESSION" 2>/dev/null; do
    sleep 5 &
    wait $!
done
