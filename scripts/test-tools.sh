#!/usr/bin/env bash
# Install the system tools the test suite uses when they are missing (idempotent, Debian).
#
#   scripts/test-tools.sh        (make test-tools; every make test* target runs it first)
#
# The tools: shellcheck (the connect scripts are checked), tmux and git (the agent's terminal
# and projects), Node.js with npm and chromium (the dashboard's build and browser tests: web/,
# tests/web), PostgreSQL's and Redis's server binaries (the suite starts its own throwaway
# servers on free ports: libs/devstack/src/devstack/servers.py), and docker-compose (the
# production-shaped stack's test, tests/deploy). The packages are installed
# without starting or creating anything: no cluster on 5432, no Redis on 6379. The Docker engine
# is started by the docker tests themselves when none answers (scripts/docker-engine.sh).
set -euo pipefail

say() { printf '[test-tools] %s\n' "$*" >&2; }

missing=()
for tool in shellcheck tmux git; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)  # tests/deploy (Compose 1.29)

[ "${#missing[@]}" -eq 0 ] && exit 0

say "installing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    say "ERROR: not root; install them yourself: sudo apt-get install ${missing[*]}"
    exit 1
fi

# Install without starting services (the suite starts its own) and without a PostgreSQL cluster.
cleanup=()
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    cleanup+=(/usr/sbin/policy-rc.d)
fi
trap 'rm -f "${cleanup[@]}"' EXIT
if [[ " ${missing[*]} " == *" postgresql "* ]] && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    mkdir -p /etc/postgresql-common
    echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf
fi

export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
say "installed: ${missing[*]}"
