"""Sign-in by magic link: ask for a link, open it (a page), spend it (a POST), who am I, log out.

Mail scanners open every link they see, so opening the link only shows a page with a button;
the POST that button sends is what spends the link.
"""

from __future__ import annotations

from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from claudecloud_common.contracts.audit import AuditKind
from claudecloud_common.errors import AppError, UnauthorizedError

from ..audit.acts import sign_in_failed, signed_in
from ..audit.who import WhoDep, who_is
from ..deps import (
    CALLER_ERRORS,
    CallerDep,
    MailerDep,
    RateLimitsDep,
    RecentUsersDep,
    SessionDep,
    SettingsDep,
    StateDep,
    TokensDep,
)
from ..errors import PayloadTooLarge, error_responses
from ..settings import GatewaySettings
from .errors import LinkAlreadyUsed, TokenRejected, TooManyRequests, UnknownUser
from .identify import identify
from .mailer import deliver
from .ratelimit import client_address
from .service import AccountService, normalise_email
from .tokens import Issued

router = APIRouter(prefix="/auth", tags=["auth"])

_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320, examples=["ada@example.com"])

    @field_validator("email")
    @classmethod
    def _looks_like_email(cls, value: str) -> str:
        return normalise_email(value)


class LoginAccepted(BaseModel):
    detail: str


class SessionIssued(BaseModel):
    token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth token type, not a secret)
    expires_at: str
    user_id: str
    email: str


class Me(BaseModel):
    user_id: str | None
    email: str | None
    is_admin: bool


async def _login_limit(request: Request, settings: SettingsDep, limits: RateLimitsDep) -> None:
    await limits.hit(limits.login, "login", client_address(request, settings.trusted_proxies))


@router.post(
    "/login",
    status_code=202,
    response_model=LoginAccepted,
    dependencies=[Depends(_login_limit)],
    responses=error_responses(TooManyRequests, PayloadTooLarge),
)
async def login(
    body: LoginBody,
    session: SessionDep,
    tokens: TokensDep,
    mailer: MailerDep,
    settings: SettingsDep,
    background: BackgroundTasks,
) -> LoginAccepted:
    """Email a single-use sign-in link (valid 15 minutes). The answer is the same for a known
    and an unknown address; the mail leaves after the user is committed."""
    link = await AccountService(session, tokens, base_url=settings.base_url).start_sign_in(
        body.email
    )
    background.add_task(deliver, mailer, link.email, link.url)
    return LoginAccepted(detail="If the address can sign in, a link is on its way.")


def _with_page(
    responses: dict[int | str, dict[str, Any]], status: int, description: str
) -> dict[int | str, dict[str, Any]]:
    """``responses`` where ``status`` may also be an HTML page (a browser's answer)."""
    found = dict(responses.get(status, {}))
    found["content"] = {"text/html": {"schema": {"type": "string"}}}
    found["description"] = "; ".join(filter(None, (found.get("description"), description)))
    return {**responses, status: found}


@router.get("/verify", response_class=HTMLResponse, responses=error_responses())
async def verify_page(token: Annotated[str, Query(max_length=4096)] = "") -> HTMLResponse:
    """A page with a sign-in button. Opening the link spends nothing (mail scanners open
    links); the button's POST does."""
    return _page(
        "Sign in to ClaudeCloud",
        f"""<form method="post" action="/auth/verify">
<input type="hidden" name="token" value="{escape(token, quote=True)}">
<button type="submit">Sign in</button></form>""",
        200,
    )


@router.post(
    "/verify",
    status_code=303,
    response_model=SessionIssued,
    responses=_with_page(
        {
            200: {"description": "With Accept: application/json, the session token in the body"},
            303: {
                "description": "A browser: the session cookie is set, then to the signed-in page"
            },
            **error_responses(TokenRejected, LinkAlreadyUsed, UnknownUser, PayloadTooLarge),
        },
        401,
        "A browser: a page saying why the link cannot sign in",
    ),
)
async def verify(
    request: Request,
    session: SessionDep,
    tokens: TokensDep,
    settings: SettingsDep,
    state: StateDep,
    token: Annotated[str | None, Form(max_length=4096)] = None,
) -> Response:
    """Spend the magic link once for a 24-hour session: a cookie and a redirect for a browser,
    the token in the body for an API client (``Accept: application/json``)."""
    wants_json = "application/json" in request.headers.get("accept", "")
    if token is None:
        token = await _json_token(request)
    accounts = AccountService(session, tokens, base_url=settings.base_url)
    who = who_is(request, None, state.audit, settings)
    try:
        _user, issued = await accounts.finish_sign_in(token or "")
    except UnauthorizedError as exc:
        sign_in_failed(who, tokens, token or "", exc)
        if wants_json:
            raise
        return _page("This link cannot sign you in", f"<p>{escape(exc.detail)}</p>", 401)
    signed_in(who, issued.claims.user_id, via="api" if wants_json else "browser")
    if wants_json:
        return JSONResponse(_issued(issued).model_dump(), headers={"Cache-Control": "no-store"})
    response = RedirectResponse("/", status_code=303)
    _set_session_cookie(response, issued, settings)
    return response


@router.get("/me", response_model=Me, responses=error_responses(*CALLER_ERRORS))
async def me(caller: CallerDep) -> Me:
    """Who the credentials belong to."""
    return Me(
        user_id=str(caller.user_id) if caller.user_id else None,
        email=caller.email,
        is_admin=caller.is_admin,
    )


@router.post("/logout", status_code=204, responses=error_responses(*CALLER_ERRORS))
async def logout(
    caller: CallerDep,
    who: WhoDep,
    session: SessionDep,
    tokens: TokensDep,
    settings: SettingsDep,
    recent: RecentUsersDep,
    background: BackgroundTasks,
) -> Response:
    """Clear the cookie and end every session of this user issued before now."""
    if caller.user_id is not None:
        await AccountService(session, tokens, base_url=settings.base_url).sign_out(caller.user_id)
        who.record(AuditKind.SIGN_OUT, caller.user_id)
        # Forget what this replica remembers about the user, again once the cutoff is committed
        # (a request in between may have read the old one).
        recent.forget(caller.user_id)
        background.add_task(recent.forget, caller.user_id)
    response = Response(status_code=204, background=background)
    response.delete_cookie(
        settings.session_cookie_name,
        path="/",
        secure=settings.is_https,
        httponly=True,
        samesite="lax",
    )
    return response


async def _json_token(request: Request) -> str | None:
    if "application/json" not in request.headers.get("content-type", ""):
        return None
    try:
        body: Any = await request.json()
    except ValueError:
        return None
    value = body.get("token") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def _issued(issued: Issued) -> SessionIssued:
    return SessionIssued(
        token=issued.token,
        expires_at=issued.claims.expires_at.isoformat(),
        user_id=str(issued.claims.user_id),
        email=issued.claims.email,
    )


def _set_session_cookie(response: Response, issued: Issued, settings: GatewaySettings) -> None:
    response.set_cookie(
        settings.session_cookie_name,
        issued.token,
        max_age=settings.session_ttl_seconds,
        path="/",
        secure=settings.is_https,
        httponly=True,
        samesite="lax",
    )


def _page(title: str, body: str, status: int) -> HTMLResponse:
    # strict-origin: a Referer never carries the link's token, and the form's POST keeps its Origin
    # (with no-referrer a browser sends ``Origin: null``, which CrossSiteRefusal refuses).
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="referrer" content="strict-origin"><title>{escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}}
button{{font-size:1.1rem;padding:.6rem 1.4rem}}</style></head>
<body><h1>{escape(title)}</h1>{body}</body></html>"""
    headers = {"Content-Security-Policy": _PAGE_CSP, "Cache-Control": "no-store"}
    return HTMLResponse(html, status_code=status, headers=headers)


home = APIRouter(tags=["auth"])
"""``/``: where a browser lands after signing in, until the dashboard takes the place."""


@home.get(
    "/",
    response_class=HTMLResponse,
    responses=_with_page(error_responses(validated=False), 401, "Not signed in: how to sign in"),
)
async def signed_in_page(request: Request, state: StateDep) -> HTMLResponse:
    """A minimal page saying who is signed in and how to go on (the CLI and the connect
    script); without a session, how to sign in."""
    try:
        caller = await identify(request, state)
    except AppError:
        return _page(
            "Not signed in",
            "<p>Ask for a sign-in link with <code>claude-cloud login you@example.com</code>, "
            "then open the link from your mail.</p>",
            401,
        )
    who = escape(caller.email) if caller.email else "an operator (API key)"
    return _page(
        "Signed in to ClaudeCloud",
        f"<p>You are signed in as <strong>{who}</strong>.</p>"
        "<p>From a terminal: <code>claude-cloud create</code>, "
        "then <code>claude-cloud connect</code>.</p>",
        200,
    )
