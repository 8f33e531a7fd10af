"""Wiring: settings → logging → database, broker, Netbird client → handlers → the worker app."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker
from pydantic import SecretStr

from claudecloud_common.background import Periodic
from claudecloud_common.bus import make_broker
from claudecloud_common.db import Database
from claudecloud_common.logging import configure_logging, get_logger
from claudecloud_common.worker import WorkerParts, make_worker_app

from .check import NetbirdCheck, register_check
from .client import NetbirdClient
from .handlers import register
from .saga import MeshSaga
from .settings import NetbirdSettings

MIGRATIONS = Path(__file__).parent / "migrations"

log = get_logger(__name__)


@dataclass(frozen=True)
class NetbirdParts:
    """The netbird service's parts, wired; tests drive these directly."""

    settings: NetbirdSettings
    db: Database
    broker: NatsBroker
    client: NetbirdClient
    saga: MeshSaga


def build(settings: NetbirdSettings) -> NetbirdParts:
    db = Database.for_service(settings)
    broker = make_broker(settings)
    client = NetbirdClient(
        settings.api_url,
        settings.api_token or SecretStr(""),
        timeout=settings.api_timeout_seconds,
    )
    saga = MeshSaga(db, client, settings)
    register(broker, saga)
    register_check(broker, NetbirdCheck(db, broker, saga))
    return NetbirdParts(settings, db, broker, client, saga)


def create_app(settings: NetbirdSettings | None = None) -> AsgiFastStream:
    settings = settings or NetbirdSettings()
    configure_logging(settings)
    parts = build(settings)
    cleanup = KeyCleanup(parts.saga, settings.key_cleanup_interval_seconds)
    return make_worker_app(
        WorkerParts(
            settings=settings,
            broker=parts.broker,
            db=parts.db,
            migrations=MIGRATIONS,
            on_started=[cleanup.start],
            on_stopping=[cleanup.stop, parts.client.close],
        )
    )


class KeyCleanup(Periodic):
    """Deletes the expired setup keys this service created, every ``interval`` seconds."""

    name = "setup-key-cleanup"
    failure_event = "mesh.key_cleanup_failed"  # Netbird or the database is down: next round

    def __init__(self, saga: MeshSaga, interval: float) -> None:
        super().__init__(interval, at_start=True)
        self.saga = saga

    async def tick(self) -> None:
        await self.saga.delete_expired_keys()
