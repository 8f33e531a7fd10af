"""Request dependencies: settings, the database session, the bus-backed services, and who is
calling (a signed-in user by bearer token or session cookie, or an operator by admin key)."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from claudecloud_common.db import AsyncSession, Database

from .auth.errors import CrossSiteRequest, InvalidCredentials, MissingCredentials, NotYours
from .auth.mailer import Mailer
from .auth.ratelimit import RateLimits, client_address
from .auth.service import AccountService, RecentUsers, SessionUser, admit
from .auth.tokens import Purpose, Tokens
from .instances.events import EventHub
from .instances.service import InstanceGateway
from .settings import GatewaySettings

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Caller:
    """Who is calling: an operator with the admin key, or a signed-in user."""

    is_admin: bool
    user_id: UUID | None = None
    email: str | None = None

    def acting_for(self, named: UUID | None) -> UUID | None:
        """Whose resource this call is about: a user's own, whatever an admin names."""
        if self.is_admin:
            return named
        if named is not None and named != self.user_id:
            raise NotYours("a signed-in user acts on their own instance only")
        return self.user_id


def get_settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


def get_instances(request: Request) -> InstanceGateway:
    instances: InstanceGateway = request.app.state.instances
    return instances


def get_hub(request: Request) -> EventHub:
    hub: EventHub = request.app.state.hub
    return hub


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_tokens(request: Request) -> Tokens:
    tokens: Tokens = request.app.state.tokens
    return tokens


def get_mailer(request: Request) -> Mailer:
    mailer: Mailer = request.app.state.mailer
    return mailer


def get_recent_users(request: Request) -> RecentUsers:
    recent: RecentUsers = request.app.state.recent_users
    return recent


def get_rate_limits(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.rate_limits
    return limits


async def get_session(db: Annotated[Database, Depends(get_db)]) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed when the endpoint returns, before the response."""
    async with db.transaction() as session:
        yield session


_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="Operator API key")
_bearer = HTTPBearer(auto_error=False, description="A session token from POST /auth/verify")
_cookie = APIKeyCookie(name="session", auto_error=False, description="The browser's session")


async def identify(request: Request) -> Caller:
    """Bearer token, then the session cookie, then the admin key; the first one present decides.

    A plain function as well as a dependency, so ``/connect.sh`` can turn a refusal into a
    script instead of an error body.
    """
    settings = get_settings(request)
    token, via_cookie = _session_token(request, settings)
    if token is not None:
        if via_cookie:
            _refuse_cross_site(request, settings)
        user = await _session_user(request, settings, token)
        return Caller(is_admin=False, user_id=user.id, email=user.email)
    return _admin(settings, request.headers.get("X-API-Key"))


async def _session_user(request: Request, settings: GatewaySettings, token: str) -> SessionUser:
    tokens = get_tokens(request)
    claims = tokens.verify(token, Purpose.SESSION)
    recent = get_recent_users(request)
    known = recent.get(claims.user_id)
    if known is not None:
        return admit(claims, known)
    async with get_db(request).transaction(notify=False) as session:
        accounts = AccountService(session, tokens, base_url=settings.base_url)
        user = await accounts.user_for(claims)
    recent.put(user)
    return user


def _session_token(request: Request, settings: GatewaySettings) -> tuple[str | None, bool]:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip(), False
    cookie = request.cookies.get(settings.session_cookie_name)
    return (cookie, True) if cookie else (None, False)


def _refuse_cross_site(request: Request, settings: GatewaySettings) -> None:
    # SameSite=Lax already keeps the cookie off cross-site POSTs in current browsers; the
    # Origin check covers the ones that do not.
    origin = request.headers.get("Origin")
    if request.method in _SAFE_METHODS or origin is None:
        return
    base = urlsplit(settings.base_url)
    if origin.rstrip("/") != f"{base.scheme}://{base.netloc}":
        raise CrossSiteRequest("cross-site request refused")


def _admin(settings: GatewaySettings, api_key: str | None) -> Caller:
    if not api_key:
        raise MissingCredentials("missing API key")
    expected = settings.admin_api_key
    if expected is None or not hmac.compare_digest(
        api_key.encode(), expected.get_secret_value().encode()
    ):
        raise InvalidCredentials("invalid API key")
    return Caller(is_admin=True)


async def authorize(request: Request) -> Caller:
    """Who is calling, counted against the API rate limit (operators are not limited)."""
    caller = await identify(request)
    if not caller.is_admin:
        limits = get_rate_limits(request)
        address = client_address(request, get_settings(request).trusted_proxies)
        await limits.hit(limits.api, "api", address)
    return caller


async def get_caller(
    request: Request,
    _api_key_doc: Annotated[str | None, Depends(_api_key)],
    _bearer_doc: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _cookie_doc: Annotated[str | None, Depends(_cookie)],
) -> Caller:
    """:func:`authorize` as a dependency; the unused arguments document the three ways in."""
    return await authorize(request)


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
InstancesDep = Annotated[InstanceGateway, Depends(get_instances)]
HubDep = Annotated[EventHub, Depends(get_hub)]
CallerDep = Annotated[Caller, Depends(get_caller)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
TokensDep = Annotated[Tokens, Depends(get_tokens)]
MailerDep = Annotated[Mailer, Depends(get_mailer)]
RateLimitsDep = Annotated[RateLimits, Depends(get_rate_limits)]
RecentUsersDep = Annotated[RecentUsers, Depends(get_recent_users)]
