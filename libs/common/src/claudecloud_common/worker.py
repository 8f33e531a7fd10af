"""How a bus worker runs: one ASGI process with the broker, ``/healthz``, ``/metrics`` and its
AsyncAPI document on its own (internal) HTTP port, and what outsiders must reach on a public
listener of its own (:mod:`claudecloud_common.listeners`).

Every worker service builds a :class:`WorkerParts` and hands it to :func:`make_worker_app`;
start-up is the same everywhere: migrate, connect, ensure the streams (:func:`prepare_service`,
which the gateway's own start-up shares), start the outbox relay, then the subscribers; shutdown
drains in reverse.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from faststream import AsyncAPI
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.response import JSONResponse
from faststream.asgi.types import ASGIApp
from faststream.nats import NatsBroker
from prometheus_client import make_asgi_app

from .bus import ensure_streams
from .db import Database
from .listeners import DOCS_POLICY, OnListener, PublicListener, asyncapi_page
from .logging import get_logger
from .metrics import HttpMetrics
from .migrations import upgrade_to_head
from .outbox import OutboxRelay
from .reconnect import ReconnectGuard
from .server import serve
from .settings import ServiceSettings

__all__ = [
    "PublicListener",
    "WorkerParts",
    "health_report",
    "make_worker_app",
    "prepare_service",
    "serve",
]


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
    """Extra HTTP endpoints beside ``/healthz``, ``/metrics`` and ``/asyncapi``, by exact path,
    on the worker's own (internal) port."""
    public: PublicListener | None = None
    """A port for callers outside the platform, serving its routes and ``/healthz`` alone
    (billing receives Stripe's webhook this way); the worker's own port then serves none of
    them. The process listens on it too (``serve(..., also=...)``)."""


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


async def prepare_service(settings: ServiceSettings, broker: NatsBroker, migrations: Path) -> None:
    """What every service does before it handles anything, in this order: bring its database to
    the newest schema (its own version table), connect to the bus, make sure the streams exist."""
    version_table = f"alembic_version_{settings.service_name}"
    await upgrade_to_head(settings.resolved_database_url, migrations, version_table)
    await broker.connect()
    await ensure_streams(broker, replicas=settings.bus_stream_replicas)


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
        await prepare_service(settings, broker, parts.migrations)

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
        # No asyncapi_path: FastStream's page runs a CDN's script, and its "try it out" route
        # publishes any body to any subject on the real bus. Ours: the document and a page.
    )
    _mount_docs(app, settings.service_name)
    for path, route in parts.public.routes if parts.public else ():
        app.mount(path, route)
    _place(app, parts.public)
    # Counted and timed by route; each is an exact path, so the path is its template. (Wrapped
    # once registered: FastStream configures its own handlers when it is given them.)
    app.routes = [(path, HttpMetrics(route, route=path)) for path, route in app.routes]
    return app


def _mount_docs(app: AsgiFastStream, service: str) -> None:
    """``/asyncapi.json`` (the document) and ``/asyncapi`` (a page of it that runs nothing)."""

    @get(include_in_schema=False)
    async def document(scope: object) -> AsgiResponse:
        return JSONResponse(app.schema.to_specification().to_jsonable())

    @get(include_in_schema=False)
    async def page(scope: object) -> AsgiResponse:
        found = app.schema.to_specification().to_jsonable()
        headers = {
            "content-type": "text/html; charset=utf-8",
            "content-security-policy": DOCS_POLICY,
        }
        return AsgiResponse(asyncapi_page(service, found).encode(), 200, headers)

    app.mount("/asyncapi.json", document)
    app.mount("/asyncapi", page)


def _place(app: AsgiFastStream, public: PublicListener | None) -> None:
    """Each route on its listener: the public one's routes there alone, the rest on the worker's
    own port, ``/healthz`` on both."""
    if public is None:
        return
    outside = {path for path, _ in public.routes}
    app.routes = [
        (path, route if path == "/healthz" else _on(route, public.port, path in outside))
        for path, route in app.routes
    ]


def _on(route: ASGIApp, port: int, public: bool) -> ASGIApp:
    return OnListener(route, public_port=port, public=public)
