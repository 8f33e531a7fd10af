#!/bin/bash
# The tmux session `claude`: Claude Code in the left pane, 70% of the width, beside a shell in the
# right pane, 30%, at every window size.
#
#   tmux-session.sh ensure   create the session when it is missing, then exit (the agent runs this
#                            before each terminal attaches, so the first one finds the layout)
#   tmux-session.sh          the same, then wait as long as the session exists (the supervisor runs
#                            this, so a session that is gone is made again)
#
# The window follows the size of the client used last (window-size latest: attached, resized or
# typed into most recently), so whoever is typing sees the whole window; aggressive-resize leaves
# out clients looking at another window of the session. tmux resizes panes unevenly when the window
# changes size, so a hook puts the split back to 70% on every resize.
set -uo pipefail

SESSION="${TMUX_SESSION:-claude}"
WORKDIR="${HOME:-/claude-data}"
BIN="$(cd "$(dirname "$0")" && pwd)"

ensure() {
    tmux has-session -t "=$SESSION" 2>/dev/null && return 0
    # One command list: it makes the whole layout, or stops at new-session when another caller
    # created the session first.
    tmux new-session -d -s "$SESSION" -x 200 -y 50 -c "$WORKDIR" "$BIN/claude-pane.sh" \; \
        set-option -w window-size latest \; \
        set-option -w aggressive-resize on \; \
        split-window -h -l 30% -c "$WORKDIR" "$BIN/shell-pane.sh" \; \
        set-hook -w window-resized \
            "if-shell -F '#{==:#{window_panes},2}' \"resize-pane -t '{left}' -x 70%\"" \; \
        resize-pane -t "{left}" -x 70% \; \
        select-pane -t "{left}" 2>/dev/null
    tmux has-session -t "=$SESSION" 2>/dev/null
}

ensure || exit 1
[ "${1:-}" = ensure ] && exit 0
while tmux has-session -t "=$SESSION" 2>/dev/null; do
    sleep 5 &
    wait $!
done
