"""Who is calling: the one function that authenticates HTTP requests and WebSockets alike.

A caller is a signed-in user (a session token as ``Authorization: Bearer`` or the session cookie)
or an operator (``X-API-Key``). Both kinds of connection go through :func:`identify`: the same
token check, the same recent-user cache, the same logout rule. What differs is only the origin
rule, because browsers send cookies differently: a cookie-authenticated change over HTTP must
come from our own site, and a WebSocket that carries a cookie or says where it comes from must
come from one of the dashboard's origins (browsers let any page open a WebSocket anywhere).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from urllib.parse import urlsplit
from uuid import UUID

from starlette.requests import HTTPConnection

from ..settings import GatewaySettings
from ..state import GatewayState
from .errors import (
    CrossSiteRequest,
    InvalidCredentials,
    MissingCredentials,
    NotYours,
    OriginRefused,
)
from .service import AccountService, SessionUser, admit
from .tokens import Purpose

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


async def identify(connection: HTTPConnection, state: GatewayState) -> Caller:
    """Bearer token, then the session cookie, then the admin key; the first one present decides.

    ``connection`` is a request or a WebSocket. A plain function as well as a dependency, so
    ``/connect.sh`` can turn a refusal into a script and a WebSocket into a close code.
    """
    token, via_cookie = session_token(connection, state.settings)
    if token is None:
        return _admin(connection, state.settings)
    _check_origin(connection, state.settings, via_cookie=via_cookie)
    user = await _session_user(state, token)
    return Caller(is_admin=False, user_id=user.id, email=user.email)


def session_token(connection: HTTPConnection, settings: GatewaySettings) -> tuple[str | None, bool]:
    """The session token the caller sent, and whether it came as the cookie."""
    scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip(), False
    cookie = connection.cookies.get(settings.session_cookie_name)
    return (cookie, True) if cookie else (None, False)


async def _session_user(state: GatewayState, token: str) -> SessionUser:
    claims = state.tokens.verify(token, Purpose.SESSION)
    known = state.recent_users.get(claims.user_id)
    if known is not None:
        return admit(claims, known)
    async with state.db.read() as session:
        accounts = AccountService(session, state.tokens, base_url=state.settings.base_url)
        user = await accounts.user_for(claims)
    state.recent_users.put(user)
    return user


def _check_origin(
    connection: HTTPConnection, settings: GatewaySettings, *, via_cookie: bool
) -> None:
    origin = connection.headers.get("origin")
    if connection.scope["type"] == "websocket":
        if (via_cookie or origin is not None) and not _allowed(origin, settings.allowed_origins):
            raise OriginRefused("this WebSocket cannot be opened from that page")
        return
    # SameSite=Lax already keeps the cookie off cross-site POSTs in current browsers; the
    # Origin check covers the ones that do not.
    if not via_cookie or connection.scope["method"] in _SAFE_METHODS or origin is None:
        return
    base = urlsplit(settings.base_url)
    if origin.rstrip("/") != f"{base.scheme}://{base.netloc}":
        raise CrossSiteRequest("cross-site request refused")


def _allowed(origin: str | None, allowed: frozenset[str]) -> bool:
    return origin is not None and origin.rstrip("/") in allowed


def _admin(connection: HTTPConnection, settings: GatewaySettings) -> Caller:
    api_key = connection.headers.get("x-api-key")
    if not api_key:
        if connection.scope["type"] == "websocket":
            raise MissingCredentials("open this WebSocket with a ticket or a bearer token")
        raise MissingCredentials("missing API key")
    expected = settings.admin_api_key
    if expected is None or not hmac.compare_digest(
        api_key.encode(), expected.get_secret_value().encode()
    ):
        raise InvalidCredentials("invalid API key")
    return Caller(is_admin=True)
