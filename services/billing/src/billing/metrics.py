"""The billing service's metrics on ``/metrics``. No user, customer or event ids in labels."""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import Counter

__all__ = ["WEBHOOKS", "WebhookOutcome"]


class WebhookOutcome(StrEnum):
    """What became of one delivery of Stripe's webhook."""

    ACCEPTED = "accepted"
    """Stored, and an event billing acts on."""
    IGNORED = "ignored"
    """Stored, and of a type billing does not act on."""
    UNUSABLE = "unusable"
    """Stored, and of a type billing acts on but lacking what it needs (or naming another user
    than its customer's): parked for a person, 200 so that Stripe does not retry it."""
    DUPLICATE = "duplicate"
    """Handled already (Stripe delivers again when an answer was lost)."""
    BAD_SIGNATURE = "bad_signature"
    """Not signed for us within the tolerance (or signed but not an event): 400, nothing stored."""
    REFUSED = "refused"
    """Not a webhook at all (method, media type, size, a broken body): 4xx, nothing stored."""
    ERROR = "error"
    """Could not be stored (503): Stripe delivers it again."""


WEBHOOKS = Counter(
    "claudecloud_billing_webhooks_total",
    "Deliveries of Stripe's webhook, by outcome (accepted, ignored, unusable, duplicate, "
    "bad_signature, refused, error).",
    ["outcome"],
)
for _outcome in WebhookOutcome:  # every outcome shown from the start, at 0
    WEBHOOKS.labels(_outcome)
