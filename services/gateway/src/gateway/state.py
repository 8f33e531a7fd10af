"""What the gateway holds for its whole life, built once in ``app.py`` and read through
:func:`gateway_state` by the dependencies (HTTP requests and WebSockets alike)."""

from __future__ import annotations

from dataclasses import dataclass

from faststream.nats import NatsBroker
from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from claudecloud_common.db import Database

from .auth.mailer import Mailer
from .auth.ratelimit import RateLimits
from .auth.service import RecentUsers
from .auth.tokens import Tokens
from .credentials.service import CredentialCipher
from .instances.events import EventHub
from .instances.service import InstanceGateway
from .settings import GatewaySettings
from .workspace.agents import AgentEndpoints, AgentHttp


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
    tokens: Tokens
    recent_users: RecentUsers
    mailer: Mailer
    rate_limits: RateLimits
    credential_cipher: CredentialCipher


def gateway_state(connection: HTTPConnection) -> GatewayState:
    """The state of the app serving ``connection`` (a request or a WebSocket)."""
    return app_state(connection.app)


def app_state(app: Starlette) -> GatewayState:
    """The state ``create_app`` stored on ``app``."""
    state = getattr(app.state, "gateway", None)
    if not isinstance(state, GatewayState):
        raise RuntimeError("the gateway's state is missing: build the app with create_app()")
    return state
