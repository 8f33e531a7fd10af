"""Wiring of the gateway: settings → logging → database and bus → routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from claudecloud_common.bus import make_broker
from claudecloud_common.contracts.instances import AnyInstanceEvent, InstanceSubject
from claudecloud_common.db import Database
from claudecloud_common.logging import configure_logging, get_logger
from claudecloud_common.metrics import HttpMetrics
from claudecloud_common.reconnect import ReconnectGuard
from claudecloud_common.telemetry import tracing_enabled
from claudecloud_common.worker import prepare_service

from . import health
from .audit import routes as audit
from .audit.recorder import AuditRecorder
from .auth import routes as auth
from .auth.mailer import make_mailer
from .auth.ratelimit import make_rate_limits
from .auth.service import RecentUsers
from .auth.tokens import Purpose, Tokens
from .billing import handlers as budget_handlers
from .billing import routes as billing
from .billing.service import BillingGateway
from .connect import routes as connect
from .credentials import handlers as credential_handlers
from .credentials import routes as credentials
from .credentials.service import CredentialCipher
from .docs import install_docs
from .errors import install_error_handlers
from .git import agent_routes as git_agents
from .git import keys as ssh_keys
from .git import routes as git
from .git.flows import GitConnections
from .git.provider import GitProviderClient
from .instances import routes as instances
from .instances.events import EventHub
from .instances.service import InstanceGateway
from .metrics import route_template
from .middleware import BodySizeLimit, CorrelationId, CrossSiteRefusal, SecurityHeaders
from .settings import GatewaySettings
from .state import GatewayState
from .web import install_web
from .webhooks import handlers as webhook_handlers
from .webhooks import routes as webhooks
from .workspace import routes as workspace
from .workspace.agents import AgentEndpoints, AgentHttp
from .workspace.waking import Waker
from .workstations import WorkstationListener

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
    webhook_handlers.register(state)
    budget_handlers.register(state)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await prepare_service(settings, state.broker, MIGRATIONS)  # as every worker starts
        await state.broker.start()
        await state.audit.start()
        guard = ReconnectGuard(state.broker)
        await guard.start()
        log.info("service.started", service="gateway", url=settings.base_url)
        try:
            yield
        finally:
            await guard.stop()
            await state.audit.stop()  # what is queued goes to the bus first, for a while
            await state.broker.stop()
            await state.agent_http.close()
            if state.git is not None:
                await state.git.client.close()
            await state.db.dispose()

    app = FastAPI(
        title="ClaudeCloud",
        version="0.1.0",
        lifespan=lifespan,
        description="A personal, persistent cloud workstation with Claude Code for every user.",
        docs_url=None,  # install_docs: development only, pinned and hash-checked
        redoc_url=None,
    )
    app.state.gateway = state  # read back by the dependencies only (deps.get_state), typed
    install_error_handlers(app, https=settings.is_https)
    app.add_middleware(WorkstationListener, port=settings.agent_port)  # innermost
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    app.add_middleware(CrossSiteRefusal, allowed_origins=settings.page_origins)
    app.add_middleware(CorrelationId)
    app.add_middleware(SecurityHeaders, https=settings.is_https)  # on every answer
    app.add_middleware(HttpMetrics, route=route_template)  # outermost: counts every answer
    install_docs(app, settings)
    install_routes(app, settings)
    install_web(app, settings)  # after the API: its routes keep precedence
    if tracing_enabled():  # a server span per request, parent of everything it puts on the bus
        FastAPIInstrumentor.instrument_app(
            app, excluded_urls="healthz,metrics", exclude_spans=["receive", "send"]
        )
    return app


def install_routes(app: FastAPI, settings: GatewaySettings) -> None:
    """The API, part by part."""
    for router in (
        health.router,
        auth.router,
        instances.router,
        connect.router,
        workspace.router,
        credentials.router,
        audit.router,
        webhooks.router,
        billing.make_router(settings),
        billing.budget_router,
        git.router,
        git_agents.router,
        ssh_keys.router,
    ):
        app.include_router(router)


def build_state(settings: GatewaySettings) -> GatewayState:
    """Every long-lived part of the gateway, made once from its settings."""
    broker = make_broker(settings)
    hub = EventHub()
    billing_gateway = BillingGateway(
        broker,
        enabled=settings.billing_enabled,
        base_url=settings.base_url,
        rpc_timeout=settings.rpc_timeout_seconds,
    )
    instances = InstanceGateway(
        broker,
        hub,
        rpc_timeout=settings.rpc_timeout_seconds,
        admission_timeout=settings.admission_timeout_seconds,
        cache_seconds=settings.instance_cache_seconds,
        admit=billing_gateway.refuse_if_budget_reached,
    )
    endpoints = AgentEndpoints(
        broker,
        rpc_timeout=settings.rpc_timeout_seconds,
        ttl_seconds=settings.agent_endpoint_cache_seconds,
    )
    db = Database.for_service(settings)
    cipher = CredentialCipher(settings.credentials_secret())
    return GatewayState(
        settings=settings,
        db=db,
        broker=broker,
        hub=hub,
        instances=instances,
        agent_endpoints=endpoints,
        agent_http=AgentHttp(settings.agent_timeout_seconds),
        waker=Waker(instances, hub, endpoints, timeout=settings.wake_on_access_seconds),
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
        credential_cipher=cipher,
        git=(
            GitConnections(db, cipher, GitProviderClient(settings), settings)
            if settings.git_client_id
            else None
        ),
        audit=AuditRecorder(broker),
        billing=billing_gateway,
    )
