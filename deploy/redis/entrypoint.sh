#!/usr/bin/env bash
# Run redis-server with the password from REDIS_PASSWORD, given in a config file only this user
# reads (never on the command line), and no persistence (rate-limit counters only).
set -euo pipefail
: "${REDIS_PASSWORD:?REDIS_PASSWORD is required}"
config="$(mktemp)"
chmod 600 "$config"
{
    echo "bind 0.0.0.0"
    echo "save \"\""
    echo "appendonly no"
    echo "maxmemory 256mb"
    echo "maxmemory-policy volatile-ttl"
    printf 'requirepass %s\n' "$REDIS_PASSWORD"
} >"$config"
exec redis-server "$config"
