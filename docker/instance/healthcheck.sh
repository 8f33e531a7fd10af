#!/bin/sh
# Docker HEALTHCHECK: the agent answers /healthz with this instance's secret (from the file the
# provider puts there, else the environment of an older machine).
secret="$(cat "${AGENT_SECRET_FILE:-/etc/claudecloud/agent-secret}" 2>/dev/null)"
exec curl -fsS -o /dev/null --max-time 3 -H "Authorization: Bearer ${secret:-${AGENT_SECRET:-}}" \
    "http://127.0.0.1:${AGENT_PORT:-3001}/healthz"
