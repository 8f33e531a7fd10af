"""Wiring: settings → logging → database, broker, Stripe → handlers, webhook → the worker app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker

from claudecloud_common.background import Periodic
from claudecloud_common.bus import make_broker
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.db import Database
from claudecloud_common.logging import configure_logging, get_logger
from claudecloud_common.worker import Hook, PublicListener, WorkerParts, make_worker_app

from .check import BillingCheck, register_check
from .events import StripeEvents
from .handlers import Billing, register
from .settings import BillingSettings
from .stripe_api import StripeApi
from .webhook import StripeWebhook

MIGRATIONS = Path(__file__).parent / "migrations"

log = get_logger(__name__)


@dataclass(frozen=True)
class BillingParts:
    """Billing's parts, wired; tests drive these directly."""

    settings: BillingSettings
    db: Database
    broker: NatsBroker
    api: StripeApi
    billing: Billing
    events: StripeEvents
    webhook: StripeWebhook


def build(settings: BillingSettings) -> BillingParts:
    db = Database.for_service(settings)
    broker = make_broker(settings)
    api = StripeApi(settings)
    billing = Billing(db, api, settings)
    events = StripeEvents(db, api, settings)
    webhook = StripeWebhook(events, api, max_body=settings.webhook_max_body_bytes)
    register(broker, billing)
    register_check(broker, BillingCheck(db, broker, settings))
    return BillingParts(settings, db, broker, api, billing, events, webhook)


def create_app(settings: BillingSettings | None = None) -> AsgiFastStream:
    settings = settings or BillingSettings()
    configure_logging(settings)
    started: list[Hook] = []
    stopping: list[Hook] = []
    if not settings.billing_enabled:
        log.warning("billing.disabled", detail="BILLING_ENABLED is off: instances are free")
    elif settings.stripe_standin:
        from .standin import serve_inside  # localstripe: only where the stand-in is asked for

        settings, standin = serve_inside(settings)
        started, stopping = [standin.start], [standin.stop]
        log.warning(
            "billing.standin",
            detail="LOCAL STRIPE STAND-IN: nothing is charged; set STRIPE_SECRET_KEY for Stripe",
            api_base=settings.stripe_api_base,
        )
    parts = build(settings)
    sweeper = Sweeper(parts)
    return make_worker_app(
        WorkerParts(
            settings=settings,
            broker=parts.broker,
            db=parts.db,
            migrations=MIGRATIONS,
            on_started=[*started, sweeper.start],
            on_stopping=[sweeper.stop, parts.api.close, *stopping],
            public=PublicListener(
                port=settings.webhook_port,
                host=settings.webhook_bind_host,
                routes=[(settings.webhook_path, parts.webhook)],
            ),
        )
    )


class Sweeper(Periodic):
    """Finishes what a crash or an outage left: stored webhooks not yet handled, usage not yet
    reported to the meter, and past-due grace periods that ran out. Runs at start, then on a
    timer."""

    name = "billing-sweeper"
    failure_event = "billing.sweep_failed"

    def __init__(self, parts: BillingParts) -> None:
        super().__init__(parts.settings.sweep_seconds, at_start=True)
        self.parts = parts
        # At start, everything left over (a restart is the moment to try again what failed);
        # then only what is not in flight and has waited out its last failure.
        self._older_than: timedelta | None = None

    async def sweep(self, *, older_than: timedelta | None) -> None:
        parts = self.parts
        await parts.events.handle_pending(
            older_than=older_than or timedelta(0), waiting_too=older_than is None
        )
        async with parts.db.read() as session:
            unreported = await parts.billing.service(session).unreported_usage()
        for entry in unreported:
            await parts.billing.report(entry)
        await parts.billing.meter_claude()
        async with parts.db.transaction() as session:
            await parts.billing.service(session).end_grace_periods(utcnow())
        async with parts.db.transaction() as session:
            await parts.billing.spend(session).lift_stale()

    async def tick(self) -> None:
        older_than, self._older_than = self._older_than, timedelta(seconds=self.interval)
        await self.sweep(older_than=older_than)
