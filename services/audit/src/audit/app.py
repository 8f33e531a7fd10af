"""Wiring: settings → logging → database, broker → handlers → the worker app (and retention)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker

from claudecloud_common.background import Periodic
from claudecloud_common.bus import make_broker
from claudecloud_common.db import Database
from claudecloud_common.logging import configure_logging, get_logger
from claudecloud_common.worker import WorkerParts, make_worker_app

from .check import AuditCheck, register_check
from .handlers import register
from .service import AuditService
from .settings import AuditSettings

MIGRATIONS = Path(__file__).parent / "migrations"
CHAINS_PER_ROUND = 200

log = get_logger(__name__)


@dataclass(frozen=True)
class AuditParts:
    """The audit service's parts, wired; tests drive these directly."""

    settings: AuditSettings
    db: Database
    broker: NatsBroker
    retention: Retention


def build(settings: AuditSettings) -> AuditParts:
    db = Database.for_service(settings)
    broker = make_broker(settings)
    register(broker, db, settings)
    register_check(broker, AuditCheck(db, settings))
    return AuditParts(settings, db, broker, Retention(db, settings))


def create_app(settings: AuditSettings | None = None) -> AsgiFastStream:
    settings = settings or AuditSettings()
    configure_logging(settings)
    parts = build(settings)
    return make_worker_app(
        WorkerParts(
            settings=settings,
            broker=parts.broker,
            db=parts.db,
            migrations=MIGRATIONS,
            on_started=[parts.retention.start],
            on_stopping=[parts.retention.stop],
        )
    )


class Retention(Periodic):
    """Deletes records older than the retention, a chain at a time (each in its own
    transaction, holding the chain's lock), keeping each chain's anchor."""

    name = "audit-retention"
    failure_event = "audit.retention_failed"  # the database is down: next round

    def __init__(self, db: Database, settings: AuditSettings) -> None:
        keep = settings.retention_seconds
        super().__init__(settings.retention_interval_seconds if keep else 0.0)
        self.db = db
        self.keep = timedelta(seconds=keep or 0)

    async def tick(self) -> None:
        await self.run_once()

    async def run_once(self) -> int:
        """One round; how many records went."""
        async with self.db.read() as session:
            due = await AuditService(session).expired(self.keep, limit=CHAINS_PER_ROUND)
        deleted = 0
        for chain, through in due:
            async with self.db.transaction() as session:
                deleted += await AuditService(session).cut(chain, through)
        if deleted:
            log.info("audit.retention_deleted", records=deleted, chains=len(due))
        return deleted
