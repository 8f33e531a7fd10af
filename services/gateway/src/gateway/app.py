"""Wiring of the gateway: settings → logging → database and bus → routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from claudecloud_common.bus import ensure_streams, make_broker
from claudecloud_common.contracts.instances import AnyInstanceEvent, InstanceSubject
from claudecloud_common.db import Database
from claudecloud_common.logging import configure_logging, get_logger
from claudecloud_common.metrics import HttpMetrics
from claudecloud_common.migrations import upgrade_to_head
from claudecloud_common.reconnect import ReconnectGuard
from claudecloud_common.telemetry import tracing_enabled

from . import health
from .auth import routes as auth
from .auth.mailer import make_mailer
from .auth.ratelimit import make_rate_limits
from .auth.service import RecentUsers
from .auth.tokens import Purpose, Tokens
from .billing import routes as billing
from .connect import routes as connect
from .credentials import handlers as credential_handlers
from .credentials import routes as credentials
from .credentials.service import CredentialCipher
from .docs import install_docs
from .errors import install_error_handlers
from .instances import routes as instances
from .instances.events import EventHub
from .instances.service import InstanceGateway
from .metrics import route_template
from .middleware import BodySizeLimit, CorrelationId, CrossSiteRefusal, SecurityHeaders
from .settings import GatewaySettings
from .state import GatewayState
from .web import install_web
from .workspace import routes as workspace
from .workspace.agents import AgentEndpoints, AgentHttp

MIGRATIONS = Path(__file__).parent / "migrations"

log = get_logger(__name__)


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    configure_logging(settings)
    state = build_state(settings)

    # no_reply: events are JetStream publishes (requests awaiting a PubAck); a core subscriber that
    # answered them would race the server's acknowledgement with an empty reply.
    @state.broker.subscriber(str(InstanceSubject.ALL_EVENTS), no_reply=True)
    async def on_instance_event(event: AnyInstanceEvent) -> None:
        state.instances.changed(event.instance_id)
        state.agent_endpoints.forget(event.instance_id)  # its agent may have moved or gone
        state.hub.dispatch(event)

    credential_handlers.register(state)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await upgrade_to_head(settings.resolved_database_url, MIGRATIONS, "alembic_version_gateway")
        await state.broker.connect()
        await ensure_streams(state.broker, replicas=settings.bus_stream_replicas)
        await state.broker.start()
        guard = ReconnectGuard(state.broker)
        await guard.start()
        log.info("service.started", service="gateway", url=settings.base_url)
        try:
            yield
        finally:
            await guard.stop()
            await state.broker.stop()
            await state.agent_http.close()
            await state.db.dispose()

    app = FastAPI(
        title="ClaudeCloud",
        version="0.1.0",
        lifespan=lifespan,
        description="A personal, persistent cloud workstation with Claude Code for every user.",
        docs_url=None,  # install_docs: development only, pinned and hash-checked
        redoc_url=None,
    )
    app.state.gateway = state  # read back through gateway_state(), typed
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    app.add_middleware(CrossSiteRefusal, allowed_origins=settings.page_origins)
    app.add_middleware(CorrelationId)
    app.add_middleware(SecurityHeaders, https=settings.is_https)  # on every answer
    app.add_middleware(HttpMetrics, route=route_template)  # outermost: counts every answer
    install_docs(app, settings)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(instances.router)
    app.include_router(connect.router)
    app.include_router(workspace.router)
    app.include_router(credentials.router)
    app.include_router(billing.make_router(settings))
    install_web(app, settings)  # after the API: its routes keep precedence
    if tracing_enabled():  # a server span per request, parent of everything it puts on the bus
        FastAPIInstrumentor.instrument_app(
            app, excluded_urls="healthz,metrics", exclude_spans=["receive", "send"]
        )
    return app


def build_state(settings: GatewaySettings) -> GatewayState:
    """Every long-lived part of the gateway, made once from its settings."""
    broker = make_broker(settings)
    hub = EventHub()
    return GatewayState(
        settings=settings,
        db=Database.for_service(settings),
        broker=broker,
        hub=hub,
        instances=InstanceGateway(
            broker,
            hub,
            rpc_timeout=settings.rpc_timeout_seconds,
            admission_timeout=settings.admission_timeout_seconds,
            cache_seconds=settings.instance_cache_seconds,
        ),
        agent_endpoints=AgentEndpoints(
            broker,
            rpc_timeout=settings.rpc_timeout_seconds,
            ttl_seconds=settings.agent_endpoint_cache_seconds,
        ),
        agent_http=AgentHttp(settings.agent_timeout_seconds),
        tokens=Tokens(
            settings.signing_secret().get_secret_value(),
            settings.jwt_issuer,
            {
                Purpose.MAGIC_LINK: settings.magic_link_ttl_seconds,
                Purpose.SESSION: settings.session_ttl_seconds,
            },
        ),
        recent_users=RecentUsers(settings.session_check_cache_seconds),
        mailer=make_mailer(settings),
        rate_limits=make_rate_limits(settings),
        credential_cipher=CredentialCipher(settings.credentials_secret()),
    )
