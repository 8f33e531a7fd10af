"""Wiring: settings → logging → database, broker, provider → handlers → the worker app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker

from claudecloud_common.background import Periodic
from claudecloud_common.bus import make_broker
from claudecloud_common.contracts.providers import ProviderKind, capabilities
from claudecloud_common.db import Database
from claudecloud_common.logging import configure_logging, get_logger
from claudecloud_common.worker import WorkerParts, make_worker_app

from .check import CheckTimer, ProvisionerCheck, register_check
from .entitlements import register_billing
from .handlers import CommandRunner, register
from .mesh import register_mesh
from .metrics import InstanceCounts
from .providers import Provider, make_provider
from .service import InstanceService
from .settings import ProvisionerSettings

MIGRATIONS = Path(__file__).parent / "migrations"

log = get_logger(__name__)


@dataclass(frozen=True)
class Provisioner:
    """The provisioner's parts, wired; tests drive these directly."""

    settings: ProvisionerSettings
    db: Database
    broker: NatsBroker
    provider: Provider
    runner: CommandRunner
    check: ProvisionerCheck


def build(settings: ProvisionerSettings) -> Provisioner:
    db = Database.for_service(settings)
    broker = make_broker(settings)
    provider = make_provider(settings)
    runner = CommandRunner(db, provider, settings)
    register(broker, runner)
    register_billing(broker, db, settings)
    register_mesh(broker, runner.commits, provider, settings)
    check = ProvisionerCheck(db, provider, settings)
    register_check(broker, check)
    return Provisioner(settings, db, broker, provider, runner, check)


def create_app(settings: ProvisionerSettings | None = None) -> AsgiFastStream:
    settings = settings or ProvisionerSettings()
    configure_logging(settings)
    parts = build(settings)
    if not capabilities(parts.provider.name).agent:
        log.warning("provider.demo_mode", detail="FAKE provider: no real machines are created")
    after = timedelta(seconds=settings.stuck_after_seconds)
    sweeper = StuckSweeper(parts.db, parts.provider.name, after)
    counts = InstanceCounts(parts.db)
    check_timer = CheckTimer(parts.check, settings.check_interval_seconds)
    # Start-up reconciliation is the check with its safe fixes, once before anything runs. Its
    # failure is logged, not fatal: the timer runs the check again (make run's provisioner once
    # died of SQLite answering "database is locked" to the check's first connection).
    reconcile = [check_timer.tick_once] if settings.reconcile_on_start else []
    keeper = parts.runner.keeper
    keep = [keeper.start] if keeper is not None else []
    stop_keeping = [keeper.stop] if keeper is not None else []
    return make_worker_app(
        WorkerParts(
            settings=settings,
            broker=parts.broker,
            db=parts.db,
            migrations=MIGRATIONS,
            on_started=[*reconcile, sweeper.start, counts.start, check_timer.start, *keep],
            on_stopping=[
                *stop_keeping,
                counts.stop,
                check_timer.stop,
                sweeper.stop,
                parts.runner.checkpointer.close,
                parts.provider.close,
            ],
        )
    )


class StuckSweeper(Periodic):
    """Fails instances left in a transitional state too long, so none hangs forever."""

    name = "stuck-sweeper"
    failure_event = "instance.sweep_failed"

    def __init__(self, db: Database, provider_name: ProviderKind, after: timedelta) -> None:
        super().__init__(min(60.0, after.total_seconds() / 4))
        self.db = db
        self.provider_name = provider_name
        self.after = after

    async def tick(self) -> None:
        async with self.db.transaction() as session:
            failed = await InstanceService(session, self.provider_name).fail_stuck(self.after)
        for instance_id in failed:
            log.warning("instance.stuck_failed", instance_id=str(instance_id))
