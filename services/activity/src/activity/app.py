"""Wiring: settings → logging → database, broker, agent client, clock → handlers, poller → the
worker app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker

from claudecloud_common.bus import make_broker
from claudecloud_common.db import Database
from claudecloud_common.logging import configure_logging
from claudecloud_common.worker import WorkerParts, make_worker_app

from .agents import AgentClient
from .check import ActivityCheck, register_check
from .clock import Clock, SystemClock
from .handlers import register
from .poller import Poller
from .rules import Policy
from .settings import ActivitySettings

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class Activity:
    """The activity service's parts, wired; tests and the benchmark drive these directly."""

    settings: ActivitySettings
    db: Database
    broker: NatsBroker
    poller: Poller


def policy_of(settings: ActivitySettings) -> Policy:
    return Policy(
        interval=timedelta(seconds=settings.interval_seconds),
        freeze_after=timedelta(seconds=settings.freeze_after_seconds),
        stop_after=timedelta(seconds=settings.stop_after_seconds),
        grace=timedelta(seconds=settings.grace_seconds),
        max_lifetime=timedelta(seconds=settings.max_lifetime_seconds),
        unhealthy_after=settings.unhealthy_after,
        min_available_bytes=settings.min_available_memory_mb << 20,
        idle_warning=timedelta(seconds=settings.idle_warning_seconds),
    )


def build(settings: ActivitySettings, clock: Clock | None = None) -> Activity:
    clock = clock or SystemClock()
    db = Database.for_service(settings)
    broker = make_broker(settings)
    policy = policy_of(settings)
    agents = AgentClient(
        timeout=settings.agent_timeout_seconds, concurrency=settings.agent_concurrency
    )
    register(broker, db, policy, clock, settings)
    register_check(broker, ActivityCheck(db, broker, settings, policy, clock))
    return Activity(settings, db, broker, Poller(settings, db, broker, agents, clock, policy))


def create_app(
    settings: ActivitySettings | None = None, *, clock: Clock | None = None
) -> AsgiFastStream:
    """The worker app; ``clock`` lets a test move time by hand (the real clock otherwise)."""
    settings = settings or ActivitySettings()
    configure_logging(settings)
    return worker_app(build(settings, clock))


def worker_app(parts: Activity) -> AsgiFastStream:
    return make_worker_app(
        WorkerParts(
            settings=parts.settings,
            broker=parts.broker,
            db=parts.db,
            migrations=MIGRATIONS,
            on_started=[parts.poller.start],
            on_stopping=[parts.poller.stop],
        )
    )
