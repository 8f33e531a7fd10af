"""Stripe's events, once each: store by id, then act.

Receiving commits the verified event before anything else; acting reads Stripe's current
subscription (the one call outside a transaction) and then applies it in a transaction that
locks the stored event and marks it handled. A duplicate finds the event handled and does
nothing; an event stored but not handled (Stripe down, the process killed) is handled by the next
delivery of it or by the sweeper, whichever comes first.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from uuid import UUID

from claudecloud_common.contracts.base import utcnow
from claudecloud_common.db import Database
from claudecloud_common.logging import describe_error, get_logger

from .service import BillingService
from .settings import BillingSettings
from .stripe_api import (
    StripeApi,
    StripeSubscription,
    WebhookEvent,
    invoice_subscription_id,
    parse_event,
    parse_subscription,
)

log = get_logger(__name__)


def _subscription_of(event_type: str, obj: Mapping[str, Any]) -> str | None:
    """Which subscription an event we act on is about (None: not one we act on)."""
    if event_type == "checkout.session.completed":
        found = obj.get("subscription") if obj.get("mode") == "subscription" else None
        return found if isinstance(found, str) else None
    if event_type in ("customer.subscription.updated", "customer.subscription.deleted"):
        return str(obj["id"])
    if event_type == "invoice.payment_failed":
        return invoice_subscription_id(obj)
    return None


def acts_on(event: WebhookEvent) -> bool:
    """Whether billing does anything with ``event`` (others are stored and left alone)."""
    return _subscription_of(event.type, event.object) is not None


def _user_hint(event_type: str, obj: Mapping[str, Any]) -> UUID | None:
    if event_type != "checkout.session.completed":
        return None
    raw = (obj.get("metadata") or {}).get("user_id") or obj.get("client_reference_id")
    try:
        return UUID(str(raw)) if raw else None
    except ValueError:
        return None


class StripeEvents:
    """Receives verified webhooks and acts on them exactly once."""

    def __init__(self, db: Database, api: StripeApi, settings: BillingSettings) -> None:
        self.db = db
        self.api = api
        self.settings = settings

    def service(self, session: Any) -> BillingService:
        return BillingService(session, self.settings)

    async def receive(self, event: WebhookEvent, payload: bytes) -> bool:
        """Store ``event`` and act on it; False when it had been handled already."""
        async with self.db.transaction() as session:
            stored = await self.service(session).store_event(event, payload)
        if stored is not None and stored.processed_at is not None:
            log.info("billing.webhook_duplicate", stripe_event=event.id, type=event.type)
            return False
        try:
            await self.handle(event)
        except Exception as exc:
            # Stored: the sweeper (or Stripe's next delivery) finishes it.
            log.warning(
                "billing.webhook_deferred", stripe_event=event.id, error=describe_error(exc)
            )
            async with self.db.transaction() as session:
                await self.service(session).event_failed(event.id, str(exc))
        return True

    async def handle(self, event: WebhookEvent) -> None:
        subscription_id = _subscription_of(event.type, event.object)
        current: StripeSubscription | None = None
        if subscription_id is not None:
            current = await self.api.subscription(subscription_id)
            if current is None and event.type.startswith("customer.subscription."):
                current = parse_subscription(event.object)  # Stripe no longer has it: the snapshot
        async with self.db.transaction() as session:
            service = self.service(session)
            row = await service.begin_event(event.id)
            if row is None:
                return  # handled meanwhile (a concurrent delivery, the sweeper)
            if current is not None:
                await service.sync_subscription(
                    current,
                    user_hint=_user_hint(event.type, event.object),
                    payment_failed=event.type == "invoice.payment_failed",
                    cause=event.id,
                )
            service.finish_event(row)
        log.info("billing.webhook_handled", stripe_event=event.id, type=event.type)

    async def handle_pending(self, *, older_than: timedelta, limit: int = 100) -> int:
        """Act on stored events nobody finished; returns how many were handled."""
        async with self.db.read() as session:
            ids = await self.service(session).repo.unprocessed_events(utcnow() - older_than, limit)
        handled = 0
        for event_id in ids:
            async with self.db.read() as session:
                row = await self.service(session).repo.event(event_id)
            if row is None:
                continue
            event = parse_event(row.payload)
            try:
                await self.handle(event)
                handled += 1
            except Exception as exc:
                log.warning(
                    "billing.webhook_retry_failed", stripe_event=event_id, error=describe_error(exc)
                )
                async with self.db.transaction() as session:
                    await self.service(session).event_failed(event_id, str(exc))
        return handled
