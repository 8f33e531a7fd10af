#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine (idempotent).
#
#   scripts/docker-engine.sh            # install docker.io if needed, start dockerd, wait for it
#
# Environment:
#   DOCKERD_LOG       log file for dockerd                  (default /var/log/dockerd.log)
#   DOCKERD_TIMEOUT   seconds to wait for `docker info`     (default 60)
#   DOCKERD_ARGS      extra arguments for dockerd           (default: none, see below)
#
# Sandbox notes (see ARCHITECTURE.md section 8): the machine has no systemd, so dockerd is started
# directly in the background. The defaults work here (overlay2 storage driver, iptables enabled,
# cgroup v1 with the cgroupfs driver); if the first start fails, the script retries once with the
# conservative fallbacks (vfs storage driver) and says so. iptables is kept on: it is what makes
# bridge networks with icc=false isolate instances from each other.
set -euo pipefail

LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
TIMEOUT="${DOCKERD_TIMEOUT:-60}"
EXTRA_ARGS="${DOCKERD_ARGS:-}"

say() { printf '[docker-engine] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && answers; then
    say "Docker engine already answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))."
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root to install and start dockerd"

# --- install -----------------------------------------------------------------------------------
if ! command -v dockerd >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    # Only refresh the package lists when apt does not know the package yet.
    # (capture first: `apt-cache ... | grep -q` trips pipefail on SIGPIPE)
    policy="$(apt-cache policy docker.io 2>/dev/null || true)"
    if ! grep -q 'Candidate: [0-9]' <<<"$policy"; then
        say "apt-get update"
        # Third-party sources (nodesource, google) may be unreachable here; the Debian ones are
        # what matters, so do not abort on a partial failure.
        apt-get update -q || say "apt-get update reported errors (continuing)"
    fi
    say "apt-get install -y docker.io"
    apt-get install -y -q --no-install-recommends docker.io iptables >/dev/null \
        || die "apt-get install docker.io failed"
fi
command -v dockerd >/dev/null 2>&1 || die "dockerd not found after install"
command -v docker >/dev/null 2>&1 || die "docker client not found after install"

# --- start -------------------------------------------------------------------------------------
start_dockerd() {
    # $@: extra dockerd flags
    # A stale pid file from a dead dockerd makes the next start refuse.
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        rm -f /var/run/docker.pid
    fi
    say "starting dockerd${*:+ $*} (log: $LOG)"
    # setsid: detach from this shell's session so the daemon survives the caller.
    # shellcheck disable=SC2086
    setsid dockerd "$@" $EXTRA_ARGS >>"$LOG" 2>&1 </dev/null &
    DOCKERD_PID=$!
}

wait_for_engine() {
    local deadline=$((SECONDS + TIMEOUT))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if answers; then return 0; fi
        if ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
            say "dockerd (pid $DOCKERD_PID) exited"
            return 1
        fi
        sleep 1
    done
    say "dockerd did not answer within ${TIMEOUT}s"
    return 1
}

if pgrep -x dockerd >/dev/null 2>&1; then
    # A dockerd is running but not answering yet (e.g. still starting): just wait for it.
    DOCKERD_PID="$(pgrep -x dockerd | head -n1)"
    say "dockerd already running (pid $DOCKERD_PID), waiting for it"
    wait_for_engine || die "a dockerd is running (pid $DOCKERD_PID) but does not answer; see $LOG"
else
    mkdir -p "$(dirname "$LOG")"
    printf '\n==== %s docker-engine.sh: starting dockerd ====\n' "$(date -Is)" >>"$LOG"
    start_dockerd
    if ! wait_for_engine; then
        kill "$DOCKERD_PID" 2>/dev/null || true
        sleep 2
        say "default start failed; last log lines:"
        tail -n 15 "$LOG" >&2 || true
        say "retrying with --storage-driver=vfs"
        start_dockerd --storage-driver=vfs
        wait_for_engine || { tail -n 30 "$LOG" >&2 || true; die "Docker engine does not answer; see $LOG"; }
    fi
fi

say "Docker engine answers: $(docker info --format 'server {{.ServerVersion}}, storage {{.Driver}}, cgroup {{.CgroupDriver}} v{{.CgroupVersion}}' 2>/dev/null)"
