"""What the gateway holds for its whole life, built once in ``app.py``. Routes, WebSockets
included, receive it and its parts as dependencies (:mod:`gateway.deps`), the one reader."""

from __future__ import annotations

from dataclasses import dataclass

from faststream.nats import NatsBroker
from starlette.applications import Starlette

from claudecloud_common.db import Database

from .audit.recorder import AuditRecorder
from .auth.mailer import Mailer
from .auth.ratelimit import RateLimits
from .auth.service import RecentUsers
from .auth.tokens import Tokens
from .billing.service import BillingGateway
from .credentials.service import CredentialCipher
from .git.flows import GitConnections
from .instances.events import EventHub
from .instances.service import InstanceGateway
from .settings import GatewaySettings
from .workspace.agents import AgentEndpoints, AgentHttp
from .workspace.waking import Waker


@dataclass(frozen=True)
class GatewayState:
    """The gateway's long-lived parts: configuration, the database, the bus and what sits on it."""

    settings: GatewaySettings
    db: Database
    broker: NatsBroker
    hub: EventHub
    instances: InstanceGateway
    agent_endpoints: AgentEndpoints
    agent_http: AgentHttp
    waker: Waker
    tokens: Tokens
    recent_users: RecentUsers
    mailer: Mailer
    rate_limits: RateLimits
    credential_cipher: CredentialCipher
    audit: AuditRecorder
    """Publishes what the gateway records for the audit log, off the requests' path."""
    billing: BillingGateway
    git: GitConnections | None = None
    """The configured git provider (``GIT_CLIENT_ID``); None: none is offered."""


def app_state(app: Starlette) -> GatewayState:
    """The state ``create_app`` stored on ``app`` (read by :func:`gateway.deps.get_state`)."""
    state = getattr(app.state, "gateway", None)
    if not isinstance(state, GatewayState):
        raise RuntimeError("the gateway's state is missing: build the app with create_app()")
    return state
