"""The webhooks service's metrics on ``/metrics``. No user, endpoint or URL in labels."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["DISABLED", "TRIES"]

TRIES = Counter(
    "claudecloud_webhooks_tries_total",
    "Tries of a delivery to a user's endpoint, by result.",
    ["result"],
)
DISABLED = Counter(
    "claudecloud_webhooks_endpoints_disabled_total",
    "Endpoints disabled after failing every try for the retry window.",
)
