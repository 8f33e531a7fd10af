"""Stripe, configured once: the API version pinned, the base address from settings, a timeout,
and an idempotency key on every call that changes something. Only billing talks to Stripe.

What Stripe returns is read into small frozen records here, tolerant of the two places Stripe
has kept a subscription's period (the subscription before API version 2025-03-31, its items
since), so the rules never handle Stripe's objects.
"""

from __future__ import annotations

import json
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
    "parse_event",
    "parse_subscription",
]

STRIPE_API_VERSION = "2026-10-28.endive"
"""Every request and every object we read is of this version (the stripe library's own)."""


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
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) else None


def _id(value: object) -> str | None:
    """An id, whether Stripe sent it bare or as the expanded object."""
    if isinstance(value, Mapping):
        found = value.get("id")
        return found if isinstance(found, str) else None
    return value if isinstance(value, str) else None


def parse_subscription(obj: Mapping[str, Any]) -> StripeSubscription:
    items = (obj.get("items") or {}).get("data") or []
    first: Mapping[str, Any] = items[0] if items else {}
    price = first.get("price") or first.get("plan") or obj.get("plan")
    return StripeSubscription(
        id=str(obj["id"]),
        customer=_id(obj.get("customer")) or "",
        status=str(obj.get("status", "")),
        price_id=_id(price),
        metadata={str(k): str(v) for k, v in (obj.get("metadata") or {}).items()},
        current_period_start=_timestamp(
            first.get("current_period_start", obj.get("current_period_start"))
        ),
        current_period_end=_timestamp(
            first.get("current_period_end", obj.get("current_period_end"))
        ),
    )


def invoice_subscription_id(invoice: Mapping[str, Any]) -> str | None:
    """The subscription an invoice bills (``parent.subscription_details`` since 2025-03-31)."""
    details = ((invoice.get("parent") or {}).get("subscription_details")) or {}
    return _id(details.get("subscription")) or _id(invoice.get("subscription"))


def parse_event(payload: bytes) -> WebhookEvent:
    """A webhook body (already verified) as the event it carries."""
    try:
        body = json.loads(payload)
        return WebhookEvent(
            id=str(body["id"]),
            type=str(body["type"]),
            created=int(body["created"]),
            object=dict(body["data"]["object"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidWebhook(f"not a Stripe event: {exc}") from exc


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
