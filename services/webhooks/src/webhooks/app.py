"""Wiring: settings → logging → database, broker, the delivery client → handlers → the worker
app (and the deliverer)."""

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
from claudecloud_common.worker import WorkerParts, make_worker_app

from .addresses import AddressPolicy, Resolver, system_resolver
from .check import WebhooksCheck, register_check
from .delivery import Deliverer
from .handlers import Edge, register
from .repository import DeliveryRepository
from .sealing import Sealer
from .settings import WebhooksSettings
from .transport import make_client

MIGRATIONS = Path(__file__).parent / "migrations"
CLEANUP_SECONDS = 3600.0

log = get_logger(__name__)


@dataclass(frozen=True)
class WebhooksParts:
    """The webhooks service's parts, wired; tests drive these directly."""

    settings: WebhooksSettings
    db: Database
    broker: NatsBroker
    policy: AddressPolicy
    deliverer: Deliverer
    edge: Edge


def build(settings: WebhooksSettings, *, resolve: Resolver = system_resolver) -> WebhooksParts:
    """The parts; ``resolve`` answers DNS (tests give one that changes its mind)."""
    db = Database.for_service(settings)
    broker = make_broker(settings)
    sealer = Sealer(settings.sealing_key())
    policy = AddressPolicy(settings.private_addresses_allowed, resolve)
    deliverer = Deliverer(db, settings, sealer, make_client(policy, settings.timeout_seconds))
    edge = Edge(db, settings, sealer, policy, deliverer)
    register(broker, edge)
    register_check(broker, WebhooksCheck(db, settings))
    return WebhooksParts(settings, db, broker, policy, deliverer, edge)


def create_app(
    settings: WebhooksSettings | None = None, *, resolve: Resolver = system_resolver
) -> AsgiFastStream:
    settings = settings or WebhooksSettings()
    configure_logging(settings)
    parts = build(settings, resolve=resolve)
    cleanup = LogCleanup(parts.db, settings)
    return make_worker_app(
        WorkerParts(
            settings=settings,
            broker=parts.broker,
            db=parts.db,
            migrations=MIGRATIONS,
            on_started=[parts.deliverer.start, cleanup.start],
            on_stopping=[cleanup.stop, parts.deliverer.stop, parts.deliverer.client.aclose],
        )
    )


class LogCleanup(Periodic):
    """Finished deliveries older than ``WEBHOOKS_DELIVERY_RETENTION_DAYS`` leave the log."""

    name = "webhook-log-cleanup"
    failure_event = "webhooks.cleanup_failed"

    def __init__(self, db: Database, settings: WebhooksSettings) -> None:
        super().__init__(CLEANUP_SECONDS)
        self.db = db
        self.keep = timedelta(days=settings.delivery_retention_days)

    async def tick(self) -> None:
        async with self.db.transaction() as session:
            gone = await DeliveryRepository(session).forget_finished(utcnow() - self.keep)
        if gone:
            log.info("webhooks.log_cleaned", deliveries=gone)
