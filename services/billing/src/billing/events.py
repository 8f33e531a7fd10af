"""Stripe's events, once each: store by id, then act.

Receiving commits the verified event before anything else; acting reads Stripe's current
subscription (the one call outside a transaction) and then applies it in a transaction that
locks the stored event and marks it handled. A duplicate finds the event handled and does
nothing; an event stored but not handled (Stripe down, the process killed) is handled by the next
delivery of it or by the sweeper, whichever comes first. A failed try is tried again after a wait
that doubles each time; an event that has had its tries, or that cannot be used at all, is
parked: logged once, left by the sweeper, counted by the check, tried again only when Stripe
delivers it again (a resend from Stripe's dashboard once the cause is fixed).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from claudecloud_common.contracts.base import utcnow
from claudecloud_common.db import Database
from claudecloud_common.logging import describe_error, get_logger

from .errors import UnusableEvent
from .metrics import WebhookOutcome
from .service import BillingService
from .settings import BillingSettings
from .stripe_api import (
    InvalidWebhook,
    StripeApi,
    StripeSubscription,
    WebhookEvent,
    invoice_subscription_id,
    parse_event,
    parse_subscription,
    stripe_id,
)

log = get_logger(__name__)

CHECKOUT_COMPLETED = "checkout.session.completed"
SUBSCRIPTION_CHANGED = ("customer.subscription.updated", "customer.subscription.deleted")
PAYMENT_FAILED = "invoice.payment_failed"


def subscription_of(event: WebhookEvent) -> str | None:
    """Which subscription an event we act on is about (None: one we leave alone);
    :class:`UnusableEvent` when it is of a type we act on but does not say."""
    obj = event.object
    if event.type == CHECKOUT_COMPLETED:
        return stripe_id(obj.get("subscription")) if obj.get("mode") == "subscription" else None
    if event.type in SUBSCRIPTION_CHANGED:
        found = stripe_id(obj.get("id"))
        if found is None:
            raise UnusableEvent("a subscription event whose object has no id")
        return found
    if event.type == PAYMENT_FAILED:
        return invoice_subscription_id(obj)
    return None


def acts_on(event: WebhookEvent) -> bool:
    """Whether billing does anything with ``event`` (others are stored and left alone)."""
    try:
        return subscription_of(event) is not None
    except UnusableEvent:
        return False


def _user_hint(event: WebhookEvent) -> UUID | None:
    if event.type != CHECKOUT_COMPLETED:
        return None
    obj = event.object
    metadata = obj.get("metadata")
    raw = (metadata.get("user_id") if isinstance(metadata, dict) else None) or obj.get(
        "client_reference_id"
    )
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

    async def receive(self, event: WebhookEvent, payload: bytes) -> WebhookOutcome:
        """Store ``event`` and act on it; what became of it."""
        async with self.db.transaction() as session:
            stored = await self.service(session).store_event(event, payload)
        if stored is not None and stored.processed_at is not None:
            log.info("billing.webhook_duplicate", stripe_event=event.id, type=event.type)
            return WebhookOutcome.DUPLICATE
        try:
            await self.handle(event)
        except Exception as exc:
            # Stored: the sweeper (or Stripe's next delivery) finishes it, unless it is parked.
            return await self.failed(event.id, event.type, exc)
        return WebhookOutcome.ACCEPTED if acts_on(event) else WebhookOutcome.IGNORED

    async def handle(self, event: WebhookEvent) -> None:
        subscription_id = subscription_of(event)
        current: StripeSubscription | None = None
        if subscription_id is not None:
            current = await self.api.subscription(subscription_id)
            if current is None and event.type in SUBSCRIPTION_CHANGED:
                current = parse_subscription(event.object)  # Stripe no longer has it: the snapshot
        async with self.db.transaction() as session:
            service = self.service(session)
            row = await service.begin_event(event.id)
            if row is None:
                return  # handled meanwhile (a concurrent delivery, the sweeper)
            if current is not None:
                await service.sync_subscription(
                    current,
                    user_hint=_user_hint(event),
                    payment_failed=event.type == PAYMENT_FAILED,
                    cause=event.id,
                )
            service.finish_event(row)
        log.info("billing.webhook_handled", stripe_event=event.id, type=event.type)

    async def failed(self, event_id: str, event_type: str, exc: Exception) -> WebhookOutcome:
        """Count a failed try: retried later with a longer wait, or parked (logged once, here)
        when it cannot be used or has had its tries."""
        unusable = isinstance(exc, UnusableEvent | InvalidWebhook)
        error = describe_error(exc)
        async with self.db.transaction() as session:
            row = await self.service(session).event_failed(event_id, error, unusable=unusable)
        fields = {"stripe_event": event_id, "type": event_type, "error": error}
        if row is not None and row.parked_at is not None:
            log.error(
                "billing.webhook_parked",
                **fields,
                attempts=row.attempts,
                detail="not tried again: fix the cause, then resend it from Stripe",
            )
        elif row is not None:
            log.warning(
                "billing.webhook_deferred",
                **fields,
                attempts=row.attempts,
                next_attempt_at=row.next_attempt_at.isoformat() if row.next_attempt_at else None,
            )
        return WebhookOutcome.UNUSABLE if unusable else WebhookOutcome.ACCEPTED

    async def handle_pending(
        self, *, older_than: timedelta, waiting_too: bool = False, limit: int = 100
    ) -> int:
        """Act on stored events nobody finished whose wait after a failed try is over (all of
        them, ``waiting_too``: at start); returns how many were handled."""
        now = utcnow()
        due_by = None if waiting_too else now
        async with self.db.read() as session:
            repo = self.service(session).repo
            ids = await repo.unprocessed_events(now - older_than, due_by, limit)
        handled = 0
        for event_id in ids:
            handled += await self._retry(event_id)
        return handled

    async def _retry(self, event_id: str) -> bool:
        async with self.db.read() as session:
            row = await self.service(session).repo.event(event_id)
        if row is None:
            return False
        try:
            # Parsed again: a row stored before parse_event refused such bodies fails here.
            await self.handle(parse_event(row.payload))
        except Exception as exc:
            await self.failed(event_id, row.type, exc)
            return False
        return True
