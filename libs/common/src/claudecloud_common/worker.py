"""How a bus worker runs: one ASGI process with the broker, ``/healthz`` and ``/metrics``.

Every worker service builds a :class:`WorkerParts` and hands it to :func:`make_worker_app`;
start-up is the same everywhere: migrate, connect, ensure the streams, start the outbox relay,
then the subscribers; shutdown drains in reverse.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from faststream import AsyncAPI
from faststream.asgi import AsgiFastStream, AsgiResponse, AsyncAPIRoute, get
from faststream.asgi.types import ASGIApp
from faststream.nats import NatsBroker
from prometheus_client import make_asgi_app

from .bus import ensure_streams
from .db import Database
from .logging import get_logger
from .metrics import HttpMetrics
from .migrations import upgrade_to_head
from .outbox import OutboxRelay
from .reconnect import ReconnectGuard
from .server import serve
from .settings import ServiceSettings

__all__ = ["WorkerParts", "health_report", "make_worker_app", "serve"]


log = get_logger(__name__)

Hook = Callable[[], Awaitable[None]]


@dataclass
class WorkerParts:
    """What a worker service hands to :func:`make_worker_app`."""

    settings: ServiceSettings
    broker: NatsBroker
    db: Database
    migrations: Path
    on_started: Sequence[Hook] = field(default_factory=list)
    on_stopping: Sequence[Hook] = field(default_factory=list)
    http_routes: Sequence[tuple[str, ASGIApp]] = field(default_factory=list)
    """Extra HTTP endpoints beside ``/healthz``, ``/metrics`` and ``/asyncapi``, by exact path
    (billing receives Stripe's webhook on its own worker this way)."""


async def health_report(broker: NatsBroker, db: Database) -> tuple[bool, dict[str, str]]:
    """Whether the bus and the database answer, for ``/healthz`` everywhere."""
    checks: dict[str, str] = {}
    try:
        checks["bus"] = "ok" if await broker.ping(timeout=1.0) else "unreachable"
    except Exception:
        checks["bus"] = "unreachable"
    try:
        await db.ping()
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unreachable"
    return all(v == "ok" for v in checks.values()), checks


def make_worker_app(parts: WorkerParts) -> AsgiFastStream:
    settings, broker, db = parts.settings, parts.broker, parts.db
    relay = OutboxRelay(
        db,
        broker,
        poll_seconds=settings.outbox_poll_seconds,
        grace_seconds=settings.outbox_grace_seconds,
    )

    guard = ReconnectGuard(broker)

    @get(include_in_schema=False)
    async def healthz(scope: object) -> AsgiResponse:
        ok, checks = await health_report(broker, db)
        body = json.dumps({"status": "ok" if ok else "degraded", **checks}).encode()
        return AsgiResponse(body, 200 if ok else 503, {"content-type": "application/json"})

    async def on_startup() -> None:
        await upgrade_to_head(
            settings.resolved_database_url,
            parts.migrations,
            f"alembic_version_{settings.service_name}",
        )
        await broker.connect()
        await ensure_streams(broker, replicas=settings.bus_stream_replicas)

    async def after_startup() -> None:
        relay.start()
        await guard.start()
        for hook in parts.on_started:
            await hook()
        log.info("service.started", service=settings.service_name)

    async def on_shutdown() -> None:
        for hook in parts.on_stopping:
            await hook()
        await relay.stop()
        await guard.stop()

    async def after_shutdown() -> None:
        await db.dispose()

    app = AsgiFastStream(
        broker,
        asgi_routes=[("/healthz", healthz), ("/metrics", make_asgi_app()), *parts.http_routes],
        on_startup=[on_startup],
        after_startup=[after_startup],
        on_shutdown=[on_shutdown],
        after_shutdown=[after_shutdown],
        logger=logging.getLogger("faststream.app"),
        specification=AsyncAPI(
            broker, title=f"ClaudeCloud {settings.service_name}", schema_version="3.0.0"
        ),
        asyncapi_path=AsyncAPIRoute("/asyncapi", asyncapi_json_path="/asyncapi.json"),
    )
    # Counted and timed by route; each is an exact path, so the path is its template. (Wrapped
    # once registered: FastStream configures its own handlers when it is given them.)
    app.routes = [(path, HttpMetrics(route, route=path)) for path, route in app.routes]
    return app
