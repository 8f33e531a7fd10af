"""The activity service's metrics on ``/metrics``. No user or instance ids in labels."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "ACTIVE",
    "DECISIONS",
    "INSTANCES",
    "POLLS_FAILED",
    "POLL_SECONDS",
    "UNHEALTHY",
    "USAGE_SAMPLES",
]

INSTANCES = Gauge(
    "claudecloud_activity_instances",
    "Instances activity follows, by status and health condition (none when well).",
    ["status", "condition"],
)
ACTIVE = Gauge(
    "claudecloud_activity_active_instances",
    "Running instances with real activity (typing, chat) within the last interval.",
)
POLL_SECONDS = Histogram(
    "claudecloud_activity_poll_seconds",
    "Wall time of one tick's polls (every due instance: provider and agent).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
DECISIONS = Counter(
    "claudecloud_activity_decisions_total",
    "Decisions taken, by reason (active, idle, started, frozen, stopped, unhealthy, recovered, "
    "and the freezes and stops sent: idle, max_lifetime, host_memory).",
    ["decision", "reason"],
)
POLLS_FAILED = Counter(
    "claudecloud_activity_polls_failed_total",
    "Polls that got no answer, by whom was asked (agent or provider).",
    ["target"],
)
UNHEALTHY = Counter(
    "claudecloud_activity_unhealthy_total",
    "Instances found unhealthy, by condition.",
    ["condition"],
)
USAGE_SAMPLES = Counter(
    "claudecloud_activity_usage_samples_total",
    "Usage samples sent to billing, by kind (running: active use; frozen: time frozen).",
    ["kind"],
)
