"""The audit service's metrics on ``/metrics``. No user or instance ids in labels."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = ["BROKEN_CHAINS", "RECORDS", "RETENTION_DELETED"]

RECORDS = Counter(
    "claudecloud_audit_records_total",
    "Audit records appended to a chain, by kind (a redelivered event is not counted again).",
    ["kind"],
)
RETENTION_DELETED = Counter(
    "claudecloud_audit_retention_deleted_total",
    "Audit records deleted by retention (each chain keeps the last one's hash as its anchor).",
)
BROKEN_CHAINS = Gauge(
    "claudecloud_audit_broken_chains",
    "Chains with a record edited or deleted, as the last check or verify of every chain found.",
)
