#!/bin/bash
# Keeps the instance's programs alive: the agent and the tmux session. Whatever dies is started
# again after a backoff that starts at 1 s and doubles up to 30 s; a run that lasted at least
# SUPERVISOR_HEALTHY_SECONDS counts as healthy and resets the backoff to 1 s. SIGTERM (docker
# stop) stops every program and exits at once.
set -uo pipefail

BIN=/opt/claudecloud/bin
AGENT_PYTHON=/opt/claudecloud/agent/bin/python
HEALTHY_SECONDS="${SUPERVISOR_HEALTHY_SECONDS:-10}"
MAX_BACKOFF="${SUPERVISOR_MAX_BACKOFF:-30}"

log() { printf '%s supervisor %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

# supervise NAME COMMAND...: run COMMAND forever, restarting it with backoff when it exits.
supervise() {
    local name=$1 backoff=1 child="" started code
    shift
    trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait; exit 0' TERM INT
    while true; do
        started=$SECONDS
        "$@" &
        child=$!
        log "program=$name event=started pid=$child"
        wait "$child"
        code=$?
        if [ $((SECONDS - started)) -ge "$HEALTHY_SECONDS" ]; then
            backoff=1
        fi
        log "program=$name event=exited code=$code restart_in=${backoff}s"
        sleep "$backoff" &
        child=$!
        wait "$child"
        backoff=$((backoff * 2 > MAX_BACKOFF ? MAX_BACKOFF : backoff * 2))
    done
}

pids=()
stop_all() {
    log "event=stopping"
    kill -TERM "${pids[@]}" 2>/dev/null
    wait
    exit 0
}
trap stop_all TERM INT

cd "${HOME:-/claude-data}" || exit 1
# A terminal that attaches before the session exists has the agent create it, with its layout.
export AGENT_TMUX_SETUP="${AGENT_TMUX_SETUP:-$BIN/tmux-session.sh}"
supervise agent "$AGENT_PYTHON" -m agent &
pids+=($!)
# The agent first, alone: the instance counts as running once it answers, and Claude Code's start
# in the tmux session would otherwise compete with it for the CPU.
for _ in $(seq 1 100); do
    "$BIN/healthcheck.sh" 2>/dev/null && break
    sleep 0.1 &
    wait $!
done
supervise tmux "$BIN/tmux-session.sh" &
pids+=($!)
wait
