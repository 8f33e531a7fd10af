"""The gateway's audit metrics: what waits to reach the bus, and what never will."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = ["AUDIT_LOST", "AUDIT_QUEUED"]

AUDIT_QUEUED = Gauge(
    "claudecloud_gateway_audit_queued_events",
    "Audit events this gateway has recorded and not yet published to the bus.",
)
AUDIT_LOST = Counter(
    "claudecloud_gateway_audit_events_lost_total",
    "Audit events that never reached the bus: the queue was full (a long bus outage) or the "
    "gateway stopped with them queued.",
    ["reason"],
)
