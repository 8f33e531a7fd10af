#!/bin/sh
# Docker HEALTHCHECK: the agent answers /healthz with this instance's secret.
exec curl -fsS -o /dev/null --max-time 3 -H "Authorization: Bearer ${AGENT_SECRET:-}" \
    "http://127.0.0.1:${AGENT_PORT:-3001}/healthz"
