"""Request dependencies: the gateway's parts (read from its typed state), the database session,
and who is calling (:func:`~gateway.auth.identify.identify`, counted against the rate limit)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from claudecloud_common.db import AsyncSession

from .auth.errors import (
    CrossSiteRequest,
    InvalidCredentials,
    MissingCredentials,
    SignedOut,
    TokenRejected,
    TooManyRequests,
    UnknownUser,
)
from .auth.identify import Caller, identify
from .auth.mailer import Mailer
from .auth.ratelimit import RateLimits, client_address
from .auth.service import RecentUsers
from .auth.tokens import Tokens
from .instances.events import EventHub
from .instances.service import InstanceGateway
from .settings import GatewaySettings
from .state import GatewayState, app_state
from .workspace.agents import AgentEndpoints, AgentHttp
from .workspace.waking import Waker

__all__ = ["CALLER_ERRORS", "Caller", "authorize", "get_caller", "identify"]

CALLER_ERRORS = (
    MissingCredentials,
    InvalidCredentials,
    TokenRejected,
    SignedOut,
    UnknownUser,
    CrossSiteRequest,
    TooManyRequests,
)
"""What :data:`CallerDep` may refuse with, for the OpenAPI document of every protected route."""


def get_state(connection: HTTPConnection) -> GatewayState:
    """The gateway's parts, for a request or a WebSocket: the one place that reads them."""
    return app_state(connection.app)


StateDep = Annotated[GatewayState, Depends(get_state)]


def get_settings(state: StateDep) -> GatewaySettings:
    return state.settings


def get_instances(state: StateDep) -> InstanceGateway:
    return state.instances


def get_hub(state: StateDep) -> EventHub:
    return state.hub


def get_tokens(state: StateDep) -> Tokens:
    return state.tokens


def get_mailer(state: StateDep) -> Mailer:
    return state.mailer


def get_recent_users(state: StateDep) -> RecentUsers:
    return state.recent_users


def get_rate_limits(state: StateDep) -> RateLimits:
    return state.rate_limits


def get_agent_endpoints(state: StateDep) -> AgentEndpoints:
    return state.agent_endpoints


def get_agent_http(state: StateDep) -> AgentHttp:
    return state.agent_http


def get_waker(state: StateDep) -> Waker:
    return state.waker


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed when the endpoint returns, before the response."""
    async with state.db.transaction() as session:
        yield session


_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="Operator API key")
_bearer = HTTPBearer(auto_error=False, description="A session token from POST /auth/verify")
_cookie = APIKeyCookie(name="session", auto_error=False, description="The browser's session")


async def authorize(connection: HTTPConnection, state: GatewayState) -> Caller:
    """Who is calling, counted against the API rate limit (operators are not limited)."""
    caller = await identify(connection, state)
    if not caller.is_admin:
        limits = state.rate_limits
        address = client_address(connection, state.settings.trusted_proxies)
        await limits.hit(limits.api, "api", address)
    return caller


async def get_caller(
    connection: HTTPConnection,
    state: StateDep,
    _api_key_doc: Annotated[str | None, Depends(_api_key)],
    _bearer_doc: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _cookie_doc: Annotated[str | None, Depends(_cookie)],
) -> Caller:
    """:func:`authorize` as a dependency; the unused arguments document the three ways in."""
    return await authorize(connection, state)


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
InstancesDep = Annotated[InstanceGateway, Depends(get_instances)]
HubDep = Annotated[EventHub, Depends(get_hub)]
CallerDep = Annotated[Caller, Depends(get_caller)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
TokensDep = Annotated[Tokens, Depends(get_tokens)]
MailerDep = Annotated[Mailer, Depends(get_mailer)]
RateLimitsDep = Annotated[RateLimits, Depends(get_rate_limits)]
RecentUsersDep = Annotated[RecentUsers, Depends(get_recent_users)]
EndpointsDep = Annotated[AgentEndpoints, Depends(get_agent_endpoints)]
AgentHttpDep = Annotated[AgentHttp, Depends(get_agent_http)]
WakerDep = Annotated[Waker, Depends(get_waker)]
