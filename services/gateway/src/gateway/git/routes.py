"""The signed-in user's git provider (``/me/git/...``): connect it through the OAuth web flow
(the dashboard) or the device flow (the CLI), see which account is connected and with which
scopes, list its repositories, disconnect it (the token is revoked at the provider).

No answer ever carries a token: an account shows its login and scopes only. The web flow's
``state`` works once, for the user who began it, in the browser that began it (a cookie set
with the authorization URL), within ``GIT_FLOW_TTL_SECONDS``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from claudecloud_common.errors import AppError, UnavailableError
from claudecloud_common.logging import get_logger

from ..credentials.routes import NoUserAccount
from ..deps import CALLER_ERRORS, Caller, CallerDep, SettingsDep, StateDep, authorize
from ..errors import PayloadTooLarge, error_responses
from ..settings import GatewaySettings
from .errors import (
    DeviceCodeExpired,
    GitAccessDenied,
    GitAuthorizationRejected,
    GitNotConnected,
    GitProviderNotFound,
    GitProviderRefused,
    GitReconnectNeeded,
    GitTokenUnreadable,
)
from .flows import GitConnections
from .service import AccountSummary

router = APIRouter(prefix="/me/git", tags=["git"])
log = get_logger(__name__)

BROWSER_COOKIE = "git_oauth"


class AccountView(BaseModel):
    """The connected account: its name and scopes, never a token."""

    login: str
    scopes: list[str]
    connected_at: datetime


class ConnectionView(BaseModel):
    """A git provider this platform offers, and the caller's account there, if connected."""

    provider: str = Field(description="Its name in paths and on the command line (github)")
    name: str = Field(description="Its name as people know it (GitHub)")
    host: str = Field(description="Where its repositories are cloned from")
    connected: bool
    account: AccountView | None = None


class AuthorizeStart(BaseModel):
    url: str = Field(description="Send the browser there; it comes back to the callback")


class DeviceStartView(BaseModel):
    """Show ``user_code`` and ``verification_uri``; poll with ``device_id`` every ``interval``."""

    device_id: str
    user_code: str
    verification_uri: str
    expires_in: int
    interval: int


class DevicePollBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(min_length=1, max_length=100)


class DevicePollView(BaseModel):
    """``pending``: poll again after ``interval`` seconds; ``slow_down``: the same, the interval
    grew; ``connected``: done, ``account`` says which."""

    status: Literal["pending", "slow_down", "connected"]
    interval: int
    account: AccountView | None = None


class RepositoryView(BaseModel):
    full_name: str = Field(description="OWNER/NAME")
    name: str
    owner: str
    private: bool
    default_branch: str | None
    clone_url: str
    html_url: str | None
    description: str | None


class RepositoriesView(BaseModel):
    repositories: list[RepositoryView]
    page: int
    more: bool = Field(description="Another page follows")


_BASE = (*CALLER_ERRORS, NoUserAccount, GitProviderNotFound, UnavailableError)
_WITH_TOKEN = (*_BASE, GitNotConnected, GitReconnectNeeded, GitTokenUnreadable, GitProviderRefused)


def _user(caller: Caller) -> UUID:
    if caller.user_id is None:
        raise NoUserAccount("sign in as the user: a git account belongs to a user")
    return caller.user_id


def connections(provider: str, state: StateDep) -> GitConnections:
    """The configured provider named ``provider``, or :class:`GitProviderNotFound`."""
    found = state.git
    if found is None or found.slug != provider:
        raise GitProviderNotFound(f"no git provider {provider!r} is configured here")
    return found


ConnectionsDep = Annotated[GitConnections, Depends(connections)]


@router.get("", response_model=list[ConnectionView], responses=error_responses(*_BASE[:-2]))
async def list_connections(caller: CallerDep, state: StateDep) -> list[ConnectionView]:
    """The git providers offered here, and whether you connected each (empty: none offered)."""
    user_id = _user(caller)
    if state.git is None:
        return []
    return [await _connection(state.git, user_id)]


@router.get("/{provider}", response_model=ConnectionView, responses=error_responses(*_BASE))
async def show_connection(caller: CallerDep, git: ConnectionsDep) -> ConnectionView:
    """Whether you connected this provider, and the account's name and scopes."""
    return await _connection(git, _user(caller))


@router.post(
    "/{provider}/authorize",
    response_model=AuthorizeStart,
    responses=error_responses(*_BASE, PayloadTooLarge),
)
async def begin_web_flow(
    caller: CallerDep, git: ConnectionsDep, settings: SettingsDep, response: Response
) -> AuthorizeStart:
    """Begin connecting in this browser: go to ``url``, authorize, and the provider sends you
    back to ``/me/git/{provider}/callback``, which connects the account."""
    url, nonce = await git.start_web(_user(caller))
    response.set_cookie(
        _cookie_name(settings),
        nonce,
        max_age=int(settings.git_flow_ttl_seconds),
        path="/",
        secure=settings.is_https,
        httponly=True,
        samesite="lax",
    )
    response.headers["Cache-Control"] = "no-store"
    return AuthorizeStart(url=url)


@router.get(
    "/{provider}/callback",
    status_code=303,
    response_class=RedirectResponse,
    responses={
        303: {"description": "Back to the dashboard's Projects tab, saying how it went"},
        **error_responses(),
    },
)
async def finish_web_flow(
    request: Request,
    state: StateDep,
    provider: str,
    code: Annotated[str | None, Query(max_length=512)] = None,
    oauth_state: Annotated[str | None, Query(alias="state", max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=100)] = None,
) -> RedirectResponse:
    """Where the provider sends the browser back: the ``state`` is spent (once), the code
    exchanged and the account kept. The answer is the dashboard, saying ``git=connected`` or
    ``git_error=<why>``; a forged, replayed, expired or someone else's ``state`` connects
    nothing."""
    settings = state.settings
    try:
        caller = await authorize(request, state)
        git = connections(provider, state)
        if oauth_state is None:
            raise GitAuthorizationRejected("the provider sent no state back")
        account = await _finish(git, _user(caller), request, oauth_state, code, error)
    except AppError as refused:
        log.warning("git.connect_refused", reason=refused.error, detail=refused.detail)
        return _back(settings, {"git_error": refused.error})
    return _back(settings, {"git": "connected", "account": account.login})


async def _finish(
    git: GitConnections,
    user_id: UUID,
    request: Request,
    oauth_state: str,
    code: str | None,
    error: str | None,
) -> AccountSummary:
    nonce = request.cookies.get(_cookie_name(git.settings))
    if error is not None:  # declined at the provider: still spend the state
        await git.finish_web_refused(user_id, state=oauth_state, browser_nonce=nonce)
        raise GitAccessDenied(f"the authorization was declined at {git.name} ({error})")
    return await git.finish_web(user_id, state=oauth_state, browser_nonce=nonce, code=code)


def _back(settings: GatewaySettings, query: dict[str, str]) -> RedirectResponse:
    response = RedirectResponse(f"/dashboard/?{urlencode(query)}#projects", status_code=303)
    response.delete_cookie(_cookie_name(settings), path="/", secure=settings.is_https)
    response.headers["Cache-Control"] = "no-store"
    return response


def _cookie_name(settings: GatewaySettings) -> str:
    return f"__Host-{BROWSER_COOKIE}" if settings.is_https else BROWSER_COOKIE


@router.post(
    "/{provider}/device",
    response_model=DeviceStartView,
    status_code=201,
    responses=error_responses(*_BASE, GitProviderRefused, PayloadTooLarge),
)
async def begin_device_flow(
    caller: CallerDep, git: ConnectionsDep, response: Response
) -> DeviceStartView:
    """Begin connecting from a device without a browser (the CLI): show ``user_code`` and
    ``verification_uri``, then poll ``/device/poll`` every ``interval`` seconds."""
    started = await git.start_device(_user(caller))
    response.headers["Cache-Control"] = "no-store"
    return DeviceStartView(
        device_id=started.handle,
        user_code=started.user_code,
        verification_uri=started.verification_uri,
        expires_in=started.expires_in,
        interval=started.interval,
    )


@router.post(
    "/{provider}/device/poll",
    response_model=DevicePollView,
    responses=error_responses(
        *_BASE,
        GitAuthorizationRejected,
        DeviceCodeExpired,
        GitAccessDenied,
        GitProviderRefused,
        PayloadTooLarge,
    ),
)
async def poll_device_flow(
    body: DevicePollBody, caller: CallerDep, git: ConnectionsDep
) -> DevicePollView:
    """Ask once whether the code was entered. ``slow_down`` means wait longer (the new
    ``interval``); an expired code (410) or a declined one (403) ends the flow."""
    polled = await git.poll_device(_user(caller), body.device_id)
    account = _account(polled.account) if polled.account else None
    return DevicePollView(status=polled.status, interval=polled.interval, account=account)


@router.delete(
    "/{provider}", status_code=204, responses=error_responses(*_BASE, GitProviderRefused)
)
async def disconnect(caller: CallerDep, git: ConnectionsDep) -> Response:
    """Revoke the token at the provider and forget the account; your workstation's git then
    asks you to connect again."""
    await git.disconnect(_user(caller))
    return Response(status_code=204)


@router.get(
    "/{provider}/repos", response_model=RepositoriesView, responses=error_responses(*_WITH_TOKEN)
)
async def list_repositories(
    caller: CallerDep,
    git: ConnectionsDep,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 50,
) -> RepositoriesView:
    """Your repositories at the provider, most recently updated first (``more``: another page)."""
    found, more = await git.repositories(_user(caller), page=page, per_page=per_page)
    views = [RepositoryView(**vars(repository)) for repository in found]
    return RepositoriesView(repositories=views, page=page, more=more)


async def _connection(git: GitConnections, user_id: UUID) -> ConnectionView:
    summary = await git.summary(user_id)
    return ConnectionView(
        provider=git.slug,
        name=git.name,
        host=git.host,
        connected=summary is not None,
        account=_account(summary) if summary else None,
    )


def _account(summary: AccountSummary) -> AccountView:
    return AccountView(
        login=summary.login, scopes=summary.scopes, connected_at=summary.connected_at
    )
