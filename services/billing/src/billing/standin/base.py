"""The stand-in's state, and the events it signs and delivers as Stripe does."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import warnings
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiohttp
from aiohttp import web

with warnings.catch_warnings():
    # localstripe registers plain functions as routes, which aiohttp deprecates; not ours to fix.
    warnings.simplefilter("ignore", DeprecationWarning)
    from localstripe import server as localstripe
from localstripe.resources import Event, store

from ..settings import DEFAULT_PLANS
from ..settings import Plan as PlanConfig
from ..stripe_api import STRIPE_API_VERSION

__all__ = [
    "ACTED_ON",
    "DECLINED_ON_CHARGE",
    "GOOD_CARD",
    "Handler",
    "StandInBase",
    "localstripe",
    "sign",
]

ACTED_ON = (
    "checkout.session.completed",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.payment_failed",
)
"""What the webhook endpoint is subscribed to (as a Stripe endpoint's ``enabled_events``)."""

GOOD_CARD = "4242424242424242"
DECLINED_ON_CHARGE = "4000000000000341"
"""Attaches to a customer, then every charge on it is declined (Stripe's test card)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header for ``payload`` (``t=...,v1=...``: HMAC-SHA256 of
    ``"{t}.{payload}"`` with the endpoint's secret)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def _error(status: int, message: str, **fields: str) -> web.Response:
    body = {"error": {"type": "invalid_request_error", "message": message, **fields}}
    return web.json_response(body, status=status)


def _public(session: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in session.items() if not k.startswith("_")}


class StandInBase:
    """What every part of the stand-in shares: its state, and events."""

    def __init__(
        self,
        *,
        webhook_url: str,
        webhook_secret: str,
        public_url: str,
        plans: dict[str, PlanConfig] | None = None,
    ) -> None:
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.public_url = public_url.rstrip("/")
        self.plans = plans or DEFAULT_PLANS
        self.checkout_sessions: dict[str, dict[str, Any]] = {}
        self.portal_sessions: dict[str, dict[str, Any]] = {}
        self.meter_events: dict[str, dict[str, Any]] = {}
        self.events: dict[str, bytes] = {}
        self.deliveries: list[tuple[str, int]] = []
        """(event id, HTTP status or 0 when the endpoint did not answer), in order."""
        self._idempotent: dict[str, tuple[int, bytes]] = {}

    # Events

    def record_event(self, event_type: str, obj: dict[str, Any]) -> str:
        """Make and keep an event of ours (signed when delivered), as Stripe's API version."""
        event_id = _new_id("evt_")
        event = {
            "id": event_id,
            "object": "event",
            "api_version": STRIPE_API_VERSION,
            "created": int(time.time()),
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        self.events[event_id] = json.dumps(event).encode()
        return event_id

    def payload_of(self, event_id: str) -> bytes:
        if event_id in self.events:
            return self.events[event_id]
        found = store.get(f"event:{event_id}")
        if not isinstance(found, Event):
            raise web.HTTPNotFound(text=f"no event {event_id}")
        return json.dumps(found._export(), sort_keys=True).encode()

    async def deliver(self, event_id: str) -> int:
        """POST the event, signed now, to the webhook; its status (0: nobody answered)."""
        payload = self.payload_of(event_id)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(payload, self.webhook_secret),
        }
        try:
            async with (
                aiohttp.ClientSession() as client,
                client.post(self.webhook_url, data=payload, headers=headers) as response,
            ):
                status = response.status
        except aiohttp.ClientError:
            status = 0
        self.deliveries.append((event_id, status))
        return status

    @staticmethod
    def _subscriptions(customer: str) -> Iterable[Any]:
        return [
            v for k, v in store.items() if k.startswith("subscription:") and v.customer == customer
        ]
