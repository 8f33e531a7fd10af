"""Stripe, configured once: the API version pinned, the base address from settings, a timeout,
and an idempotency key on every call that changes something. Only billing talks to Stripe.

What Stripe returns is read into small frozen records here, tolerant of the two places Stripe
has kept a subscription's period (the subscription before API version 2025-03-31, its items
since), so the rules never handle Stripe's objects.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import stripe
from stripe.params import CustomerCreateParams
from stripe.params.billing import MeterEventCreateParams
from stripe.params.billing_portal import SessionCreateParams as PortalSessionParams
from stripe.params.checkout import SessionCreateParams as CheckoutSessionParams

from .errors import StripeRefused, StripeUnavailable
from .settings import BillingSettings

__all__ = [
    "STRIPE_API_VERSION",
    "InvalidWebhook",
    "StripeApi",
    "StripeSubscription",
    "WebhookEvent",
    "invoice_subscription_id",
    "parse_event",
    "parse_subscription",
    "stripe_id",
]

STRIPE_API_VERSION = "2026-10-28.endive"
"""Every request and every object we read is of this version (the stripe library's own)."""
MAX_FIELD_CHARS = 100
"""An event's id and type are kept in columns of this size (VARCHAR(100) on PostgreSQL)."""
LATEST_TIME = 253_402_300_799
"""9999-12-31T23:59:59Z, the last second a date can name: a later ``created`` is no time."""


class InvalidWebhook(Exception):
    """The body is not a webhook Stripe signed for us within the tolerance, or not an event."""


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    created: int
    object: Mapping[str, Any]
    """``data.object``: the object the event is about, as it was when the event happened."""


@dataclass(frozen=True)
class StripeSubscription:
    id: str
    customer: str
    status: str
    price_id: str | None
    metadata: Mapping[str, str]
    current_period_start: datetime | None
    current_period_end: datetime | None


def _timestamp(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, UTC) if 0 <= value <= LATEST_TIME else None


def _mapping(value: object) -> Mapping[str, Any]:
    """``value`` when it is an object, else an empty one: an event's snapshot comes from a body
    we did not write, so a field may have any shape."""
    return value if isinstance(value, Mapping) else {}


def stripe_id(value: object) -> str | None:
    """An id, whether Stripe sent it bare or as the expanded object."""
    if isinstance(value, Mapping):
        found = value.get("id")
        return found if isinstance(found, str) else None
    return value if isinstance(value, str) else None


def parse_subscription(obj: Mapping[str, Any]) -> StripeSubscription:
    """A subscription object (Stripe's answer, or an event's snapshot of it) as a record; its
    ``id`` must be a string (:func:`subscription_id`), every other field may be missing."""
    items = _mapping(obj.get("items")).get("data")
    first = _mapping(items[0] if isinstance(items, list) and items else None)
    price = first.get("price") or first.get("plan") or obj.get("plan")
    return StripeSubscription(
        id=str(obj["id"]),
        customer=stripe_id(obj.get("customer")) or "",
        status=str(obj.get("status", "")),
        price_id=stripe_id(price),
        metadata={str(k): str(v) for k, v in _mapping(obj.get("metadata")).items()},
        current_period_start=_timestamp(
            first.get("current_period_start", obj.get("current_period_start"))
        ),
        current_period_end=_timestamp(
            first.get("current_period_end", obj.get("current_period_end"))
        ),
    )


def invoice_subscription_id(invoice: Mapping[str, Any]) -> str | None:
    """The subscription an invoice bills (``parent.subscription_details`` since 2025-03-31)."""
    details = _mapping(_mapping(invoice.get("parent")).get("subscription_details"))
    return stripe_id(details.get("subscription")) or stripe_id(invoice.get("subscription"))


def _signed_at(header: str) -> int:
    """The ``t=`` of a ``Stripe-Signature`` header (already verified: it is there)."""
    for item in header.split(","):
        key, _, value = item.partition("=")
        if key.strip() == "t" and value.strip().isdigit():
            return int(value)
    raise InvalidWebhook("Unable to extract timestamp and signatures from header")


def parse_event(payload: bytes) -> WebhookEvent:
    """A webhook body (already verified) as the event it carries.

    A correctly signed body can still be no usable event; anything but :class:`InvalidWebhook`
    escaping here would be answered 503, which Stripe retries for days."""
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # not JSON, or nested deeper than Python parses
        raise InvalidWebhook(f"not a Stripe event: {type(exc).__name__}") from exc
    if not isinstance(body, dict):
        raise InvalidWebhook("not a Stripe event: not a JSON object")
    data = body.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise InvalidWebhook("not a Stripe event: data.object is not an object")
    return WebhookEvent(
        id=_short_text(body, "id"),
        type=_short_text(body, "type"),
        created=_created(body.get("created")),
        object=obj,
    )


def _short_text(body: Mapping[str, Any], name: str) -> str:
    """A field kept in a column of ``MAX_FIELD_CHARS`` (the event's id and type)."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidWebhook(f"not a Stripe event: no {name}")
    if len(value) > MAX_FIELD_CHARS:
        raise InvalidWebhook(f"the event's {name} is longer than {MAX_FIELD_CHARS} characters")
    return value


def _created(value: object) -> int:
    # A whole number of seconds that is a date: not 1e999 (a float, infinite) nor 10**30.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= LATEST_TIME:
        raise InvalidWebhook("not a Stripe event: created is not a time in seconds")
    return value


class StripeApi:
    """The one Stripe client of the process."""

    def __init__(self, settings: BillingSettings) -> None:
        self.settings = settings
        key = settings.stripe_secret_key.get_secret_value() if settings.stripe_secret_key else ""
        self.http = stripe.HTTPXClient(timeout=settings.stripe_timeout_seconds)
        self.client = stripe.StripeClient(
            key or "sk_unset",
            stripe_version=STRIPE_API_VERSION,
            base_addresses={"api": settings.stripe_api_base},
            max_network_retries=settings.stripe_max_network_retries,
            http_client=self.http,
        )

    def verify(self, payload: bytes, signature: str | None) -> WebhookEvent:
        """Check the ``Stripe-Signature`` over the raw body (and its age), then read the event."""
        secret = self.settings.stripe_webhook_secret
        if secret is None:
            raise InvalidWebhook("no webhook signing secret is configured")
        try:
            stripe.WebhookSignature.verify_header(
                payload.decode("utf-8"),
                signature,
                secret.get_secret_value(),
                self.settings.webhook_tolerance_seconds,
            )
        except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
            raise InvalidWebhook(str(exc).splitlines()[0] if str(exc) else "invalid") from exc
        # The library refuses only what is too old; a signature dated ahead of our clock by more
        # than the tolerance is as suspect (a replay prepared in advance, or a clock far off).
        ahead = _signed_at(signature or "") - time.time()
        if ahead > self.settings.webhook_tolerance_seconds:
            raise InvalidWebhook(
                f"Timestamp is {ahead:.0f}s in the future, outside the tolerance zone"
            )
        return parse_event(payload)

    async def create_customer(self, user_id: UUID, email: str | None) -> str:
        """One customer per user: the key is the user, so racing checkouts make one."""
        params: CustomerCreateParams = {"metadata": {"user_id": str(user_id)}}
        if email:
            params["email"] = email
        customer = await self._call(
            self.client.v1.customers.create_async, params, f"customer-{user_id}"
        )
        return str(customer.id)

    async def create_checkout(
        self,
        *,
        customer: str,
        user_id: UUID,
        plan: str,
        price_id: str,
        success_url: str,
        cancel_url: str,
        key: str,
    ) -> tuple[str, str]:
        """A Checkout Session in subscription mode; returns (session id, hosted URL)."""
        metadata = {"user_id": str(user_id), "plan": plan}
        params: CheckoutSessionParams = {
            "mode": "subscription",
            "customer": customer,
            "client_reference_id": str(user_id),
            "line_items": [{"price": price_id, "quantity": 1}],
            "metadata": metadata,
            "subscription_data": {"metadata": metadata},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        session = await self._call(self.client.v1.checkout.sessions.create_async, params, key)
        return str(session.id), str(session.url)

    async def create_portal(self, *, customer: str, return_url: str, key: str) -> str:
        params: PortalSessionParams = {
            "customer": customer,
            "return_url": return_url,
        }
        session = await self._call(self.client.v1.billing_portal.sessions.create_async, params, key)
        return str(session.url)

    async def subscription(self, subscription_id: str) -> StripeSubscription | None:
        """The subscription as Stripe has it now (None when Stripe does not know it)."""
        try:
            found = await self.client.v1.subscriptions.retrieve_async(subscription_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise StripeRefused(f"Stripe refused to read {subscription_id}: {exc}") from exc
        except stripe.StripeError as exc:
            raise StripeUnavailable(f"Stripe did not answer: {exc}") from exc
        return parse_subscription(found.to_dict())

    async def report_usage(
        self, *, customer: str, seconds: int, identifier: str, at: datetime
    ) -> None:
        """One Billing Meter event; ``identifier`` (the sample id) makes a retry a no-op."""
        params: MeterEventCreateParams = {
            "event_name": self.settings.meter_event_name,
            "payload": {"stripe_customer_id": customer, "value": str(seconds)},
            "identifier": identifier,
            "timestamp": int(at.timestamp()),
        }
        await self._call(
            self.client.v1.billing.meter_events.create_async, params, f"meter-{identifier}"
        )

    async def report_meter(
        self, *, event_name: str, customer: str, value: int, identifier: str, at: datetime
    ) -> None:
        """One event on any meter; ``identifier`` makes a retry a no-op."""
        params: MeterEventCreateParams = {
            "event_name": event_name,
            "payload": {"stripe_customer_id": customer, "value": str(value)},
            "identifier": identifier,
            "timestamp": int(at.timestamp()),
        }
        await self._call(
            self.client.v1.billing.meter_events.create_async, params, f"meter-{identifier}"
        )

    async def _call(self, method: Any, params: Any, key: str) -> Any:
        try:
            return await method(params, {"idempotency_key": key})
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            raise StripeUnavailable(f"Stripe did not answer: {exc.user_message or exc}") from exc
        except stripe.StripeError as exc:
            if exc.http_status is not None and exc.http_status >= 500:
                raise StripeUnavailable(f"Stripe failed: {exc.user_message or exc}") from exc
            raise StripeRefused(f"Stripe refused: {exc.user_message or exc}") from exc

    async def close(self) -> None:
        await self.http.close_async()  # type: ignore[no-untyped-call]
