"""A local GitHub: its OAuth web and device flows, token refresh and revocation, and the REST
calls the platform makes (``GET /user``, ``GET /user/repos``), keeping state as GitHub does.

The OAuth side follows GitHub's documentation ("Authorizing OAuth apps", "Generating a user
access token for a GitHub App", "Refreshing user access tokens"; notes in
``../shared/notes/round3.md`` section 4): ``GET /login/oauth/authorize`` (``client_id``,
``redirect_uri`` under the registered callback, ``scope``, ``state``, PKCE ``code_challenge``
with ``S256``) shows an authorization page for the browser's signed-in account (:attr:`signed_in`)
whose buttons send it back with ``code`` and ``state`` (or ``error=access_denied``); ``POST
/login/oauth/access_token`` exchanges a code (once, within ten minutes, with the client secret,
the same ``redirect_uri`` and the PKCE verifier), polls a device code (``authorization_pending``,
``slow_down`` adding five seconds to the interval when polled sooner, ``expired_token``,
``access_denied``, no secret needed) or refreshes (the old pair dies at once; the secret is
needed unless the pair came from the device flow), answering errors with a 200 and ``error`` as
GitHub does, JSON for ``Accept: application/json`` and a form otherwise; ``POST
/login/device/code`` and the ``/login/device`` page where a person enters the code.

The REST side lives under ``/api/v3`` (GitHub Enterprise's layout) and refuses any request that
``github-openapi.yml`` (an excerpt of GitHub's own description) does not allow: the path, the
method, the query's parameter names, a JSON body against the schema. Every answer is checked
against the document too; one that does not match is a bug in this fake (:attr:`violations`).

Tokens are OAuth app tokens (``gho_``, never expiring, with the asked scopes) unless
:attr:`expiring` (a GitHub App's user tokens: ``ghu_`` living :attr:`access_lifetime` seconds,
with a ``ghr_`` refresh token). :meth:`token_owner` is what GitHub's git server asks.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from tests.fakes.openapi import OpenAPI
from tests.fakes.threaded import serving_in_thread
from tests.support import free_port

DOCUMENT = Path(__file__).parent / "github-openapi.yml"
API_PREFIX = "/api/v3"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CODE_SECONDS = 600
DEVICE_SECONDS = 900
DOCS = "https://docs.github.com/rest"


@cache
def spec() -> OpenAPI:
    return OpenAPI(yaml.safe_load(DOCUMENT.read_text()))


@dataclass
class User:
    login: str
    id: int
    name: str | None = None


@dataclass
class Repo:
    owner: str
    name: str
    private: bool
    default_branch: str = "main"
    description: str | None = None
    collaborators: set[str] = field(default_factory=set)
    updated: float = field(default_factory=time.time)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Token:
    value: str
    login: str
    scope: str
    pair: str
    """Tokens of one grant (access and refresh) share it; a refresh or revocation kills it."""
    refresh: bool = False
    device: bool = False
    expires_at: float | None = None
    alive: bool = True

    def works(self, now: float) -> bool:
        return self.alive and (self.expires_at is None or now < self.expires_at)


@dataclass
class Code:
    login: str
    scope: str
    redirect_uri: str | None
    challenge: str | None
    expires_at: float
    used: bool = False


@dataclass
class Device:
    device_code: str
    user_code: str
    scope: str
    expires_at: float
    interval: int
    last_poll: float | None = None
    login: str | None = None
    denied: bool = False
    done: bool = False


@dataclass
class FakeGitHub:
    """GitHub's state, its checks and its HTTP app (:meth:`serve` runs it in a thread)."""

    client_id: str = "Iv1.fakeclient0001"
    client_secret: str = field(default_factory=lambda: secrets.token_hex(20))
    callback_url: str = "http://127.0.0.1/me/git/github/callback"
    git_base: str = "http://127.0.0.1"
    """Where its repositories are cloned from (the git server's URL)."""
    expiring: bool = False
    access_lifetime: int = 28800
    refresh_lifetime: int = 15811200
    device_interval: int = 5
    signed_in: str | None = None
    """The account this browser is signed in to at GitHub (the authorize page acts for it)."""
    offset: float = 0.0
    """How far GitHub's clock is ahead of this machine's (:meth:`let_time_pass`)."""
    base_url: str = ""
    users: dict[str, User] = field(default_factory=dict)
    repos: dict[str, Repo] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    codes: dict[str, Code] = field(default_factory=dict)
    devices: dict[str, Device] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # What tests use

    def add_user(self, login: str, name: str | None = None) -> User:
        user = self.users[login] = User(login, 1000 + len(self.users), name)
        return user

    def add_repo(self, owner: str, name: str, *, private: bool = True, **extra: Any) -> Repo:
        repo = self.repos[f"{owner}/{name}"] = Repo(owner, name, private, **extra)
        return repo

    def now(self) -> float:
        return time.time() + self.offset

    def token_owner(self, value: str) -> str | None:
        """Who a working access token belongs to (what the git server asks)."""
        with self.lock:
            token = self.tokens.get(value)
            return token.login if token and not token.refresh and token.works(self.now()) else None

    def can_read(self, login: str | None, full_name: str) -> bool:
        repo = self.repos.get(full_name)
        if repo is None:
            return False
        return not repo.private or login in {repo.owner, *repo.collaborators}

    def can_write(self, login: str | None, full_name: str) -> bool:
        repo = self.repos.get(full_name)
        return repo is not None and login in {repo.owner, *repo.collaborators}

    def working_tokens(self, login: str) -> list[str]:
        """``login``'s access tokens that work now."""
        with self.lock:
            now = self.now()
            return [
                t.value
                for t in self.tokens.values()
                if t.login == login and not t.refresh and t.works(now)
            ]

    def every_token(self) -> list[str]:
        """Every token this fake ever issued, dead or alive (for leak checks)."""
        with self.lock:
            return list(self.tokens)

    def count(self, call: str) -> int:
        return sum(1 for c in self.calls if c == call)

    # The HTTP app

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/login/oauth/authorize", self._authorize_page, methods=["GET"]),
                Route("/login/oauth/authorize", self._authorize_decide, methods=["POST"]),
                Route("/login/oauth/access_token", self._access_token, methods=["POST"]),
                Route("/login/device/code", self._device_code, methods=["POST"]),
                Route("/login/device", self._device_page, methods=["GET"]),
                Route("/login/device", self._device_decide, methods=["POST"]),
                Route(API_PREFIX + "/{path:path}", self._rest, methods=["GET", "POST", "DELETE"]),
            ]
        )

    @contextmanager
    def serve(self, host: str = "127.0.0.1") -> Iterator[str]:
        """Serve on a free port in a thread of its own (tests may block their loop); yields the
        base URL."""
        port = free_port()
        with serving_in_thread(self.app, host, port, "the fake GitHub"):
            self.base_url = f"http://127.0.0.1:{port}"
            yield self.base_url

    # The web flow

    async def _authorize_page(self, request: Request) -> Response:
        self.calls.append("GET /login/oauth/authorize")
        query = dict(request.query_params)
        problem = self._authorize_problem(query)
        if problem:
            return self._refuse_page(problem)
        login = self.signed_in
        if login is None or login not in self.users:
            return HTMLResponse("<p>Sign in to GitHub first.</p>", status_code=401)
        fields = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
        )
        return HTMLResponse(
            f"""<!doctype html><html><head><title>Authorize application</title></head><body>
<h1>Authorize ClaudeCloud</h1><p>Signed in as <strong>{html.escape(login)}</strong>.
ClaudeCloud asks for: <code>{html.escape(query.get("scope", ""))}</code></p>
<form method="post">{fields}
<button name="decision" value="authorize">Authorize</button>
<button name="decision" value="cancel">Cancel</button></form></body></html>"""
        )

    async def _authorize_decide(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        decision = form.pop("decision", "")
        problem = self._authorize_problem(form)
        if problem or self.signed_in is None:
            return self._refuse_page(problem or "not signed in")
        target = form.get("redirect_uri") or self.callback_url
        back: dict[str, str] = {}
        if decision == "authorize":
            code = secrets.token_hex(10)
            self.codes[code] = Code(
                self.signed_in,
                form.get("scope", ""),
                form.get("redirect_uri"),
                form.get("code_challenge"),
                self.now() + CODE_SECONDS,
            )
            back["code"] = code
        else:
            back |= {"error": "access_denied", "error_description": "The user has denied your "
                     "application access."}  # fmt: skip
        if "state" in form:
            back["state"] = form["state"]
        return RedirectResponse(f"{target}?{urlencode(back)}", status_code=302)

    def _authorize_problem(self, query: dict[str, str]) -> str | None:
        if query.get("client_id") != self.client_id:
            return "unknown client_id"
        redirect = query.get("redirect_uri")
        if redirect is not None and not _under_callback(redirect, self.callback_url):
            return "The redirect_uri MUST match the registered callback URL for this application."
        method = query.get("code_challenge_method")
        if ("code_challenge" in query) != (method is not None) or method not in (None, "S256"):
            return "code_challenge needs code_challenge_method S256"
        return None

    def _refuse_page(self, problem: str) -> Response:
        self.refused.append(f"authorize: {problem}")
        return HTMLResponse(f"<p>{html.escape(problem)}</p>", status_code=400)

    # The token endpoint

    async def _access_token(self, request: Request) -> Response:
        params = dict(request.query_params) | dict(parse_qsl((await request.body()).decode()))
        grant = params.get("grant_type")
        self.calls.append(f"POST /login/oauth/access_token {grant or 'code'}")
        with self.lock:
            if params.get("client_id") != self.client_id:
                answer = _error("incorrect_client_credentials", "The client_id is incorrect.")
            elif grant == DEVICE_GRANT:
                answer = self._poll(params)
            elif grant == "refresh_token":
                answer = self._refresh(params)
            elif grant in (None, "authorization_code"):
                answer = self._exchange(params)
            else:
                answer = _error("unsupported_grant_type", f"{grant} is not supported")
        if "error" in answer:
            self.refused.append(f"access_token: {answer['error']}")
        return _oauth_answer(request, answer)

    def _exchange(self, params: dict[str, str]) -> dict[str, Any]:
        if params.get("client_secret") != self.client_secret:
            return _error("incorrect_client_credentials", "The client_id and/or client_secret "
                          "passed are incorrect.")  # fmt: skip
        code = self.codes.get(params.get("code", ""))
        if code is None or code.used or code.expires_at < self.now():
            return _error("bad_verification_code", "The code passed is incorrect or expired.")
        if code.redirect_uri is not None and params.get("redirect_uri") != code.redirect_uri:
            return _error("redirect_uri_mismatch", "The redirect_uri MUST match the registered "
                          "callback URL for this application.")  # fmt: skip
        if code.challenge is not None and _s256(params.get("code_verifier", "")) != code.challenge:
            return _error("bad_verification_code", "The code_verifier does not match.")
        code.used = True
        return self._issue(code.login, code.scope, device=False)

    def _poll(self, params: dict[str, str]) -> dict[str, Any]:
        device = next(
            (d for d in self.devices.values() if d.device_code == params.get("device_code")), None
        )
        if device is None or device.done:
            return _error("incorrect_device_code", "The device_code provided is not valid.")
        now = self.now()
        if device.expires_at < now:
            return _error("expired_token", "The device_code has expired.")
        if device.denied:
            device.done = True
            return _error("access_denied", "The authorization request was denied.")
        too_soon = device.last_poll is not None and now - device.last_poll < device.interval
        device.last_poll = now
        if too_soon:
            device.interval += 5
            return _error("slow_down", "Too many requests have been made in the same "
                          "timeframe.", interval=device.interval)  # fmt: skip
        if device.login is None:
            return _error("authorization_pending", "The authorization request is still pending.")
        device.done = True
        return self._issue(device.login, device.scope, device=True)

    def _refresh(self, params: dict[str, str]) -> dict[str, Any]:
        token = self.tokens.get(params.get("refresh_token", ""))
        if token is None or not token.refresh or not token.works(self.now()):
            return _error("bad_refresh_token", "The refresh token passed is incorrect or expired.")
        if not token.device and params.get("client_secret") != self.client_secret:
            return _error("incorrect_client_credentials", "The client_id and/or client_secret "
                          "passed are incorrect.")  # fmt: skip
        self._kill(token.pair)  # the old access and refresh tokens die at once
        return self._issue(token.login, token.scope, device=token.device)

    def _issue(self, login: str, scope: str, *, device: bool) -> dict[str, Any]:
        pair = secrets.token_hex(8)
        if not self.expiring:
            value = "gho_" + secrets.token_hex(18)
            self.tokens[value] = Token(value, login, scope, pair, device=device)
            return {"access_token": value, "token_type": "bearer", "scope": scope}
        now = self.now()
        access, refresh = "ghu_" + secrets.token_hex(18), "ghr_" + secrets.token_hex(38)
        self.tokens[access] = Token(access, login, "", pair, device=device,
                                    expires_at=now + self.access_lifetime)  # fmt: skip
        self.tokens[refresh] = Token(refresh, login, "", pair, refresh=True, device=device,
                                     expires_at=now + self.refresh_lifetime)  # fmt: skip
        return {
            "access_token": access,
            "expires_in": self.access_lifetime,
            "refresh_token": refresh,
            "refresh_token_expires_in": self.refresh_lifetime,
            "scope": "",
            "token_type": "bearer",
        }

    def _kill(self, pair: str) -> None:
        for token in self.tokens.values():
            if token.pair == pair:
                token.alive = False

    # The device flow

    async def _device_code(self, request: Request) -> Response:
        params = dict(request.query_params) | dict(parse_qsl((await request.body()).decode()))
        self.calls.append("POST /login/device/code")
        if params.get("client_id") != self.client_id:
            return _oauth_answer(request, _error("incorrect_client_credentials", "bad client_id"))
        user_code = f"{secrets.token_hex(2).upper()}-{secrets.token_hex(2).upper()}"
        device = Device(
            device_code=secrets.token_hex(20),
            user_code=user_code,
            scope=params.get("scope", ""),
            expires_at=self.now() + DEVICE_SECONDS,
            interval=self.device_interval,
        )
        with self.lock:
            self.devices[user_code] = device
        return _oauth_answer(
            request,
            {
                "device_code": device.device_code,
                "user_code": user_code,
                "verification_uri": f"{self.base_url}/login/device",
                "expires_in": DEVICE_SECONDS,
                "interval": device.interval,
            },
        )

    async def _device_page(self, _request: Request) -> Response:
        return HTMLResponse(
            """<!doctype html><html><head><title>Device activation</title></head><body>
<h1>Device activation</h1><form method="post"><label>Code <input name="user_code"></label>
<button name="decision" value="authorize">Authorize</button>
<button name="decision" value="cancel">Cancel</button></form></body></html>"""
        )

    async def _device_decide(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        with self.lock:
            device = self.devices.get(form.get("user_code", "").strip().upper())
            if device is None or self.signed_in is None or device.expires_at < self.now():
                return HTMLResponse("<p>That code is not valid.</p>", status_code=400)
            if form.get("decision") == "authorize":
                device.login = self.signed_in
            else:
                device.denied = True
        return HTMLResponse("<p>Congratulations, you're all set!</p>")

    def let_time_pass(self, seconds: float) -> None:
        """GitHub's clock moves ``seconds`` ahead: tokens expire, device codes may be polled."""
        with self.lock:
            self.offset += seconds

    def expire_device_codes(self) -> None:
        with self.lock:
            for device in self.devices.values():
                device.expires_at = self.now() - 1

    # REST, checked against the document

    async def _rest(self, request: Request) -> Response:
        path, method = "/" + request.path_params["path"], request.method
        found = spec().operation(method, path)
        if isinstance(found, int):
            return self._refuse_rest(found, f"{method} {path}: not in the document")
        template, operation = found
        self.calls.append(f"{method} {template}")
        allowed = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        unknown = set(request.query_params) - allowed
        if unknown:
            return self._refuse_rest(422, f"{method} {path}: unknown parameters {sorted(unknown)}")
        body = await self._body(request, operation)
        if isinstance(body, Response):
            return body
        with self.lock:
            status, answer, headers = self._rest_answer(template, request, path, body)
        return self._respond(operation, status, answer, headers, f"{method} {template}")

    async def _body(self, request: Request, operation: dict[str, Any]) -> Any:
        schema = OpenAPI.request_schema(operation)
        raw = await request.body()
        if schema is None:
            return self._refuse_rest(400, "this operation takes no body") if raw else None
        try:
            body = json.loads(raw)
        except ValueError:
            return self._refuse_rest(400, "the body is not JSON")
        problems = spec().validate(schema, body)
        return self._refuse_rest(422, "; ".join(problems)) if problems else body

    def _rest_answer(
        self, template: str, request: Request, path: str, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        if template == "/applications/{client_id}/token":
            return self._revoke(request, path, body)
        login, token = self._bearer(request)
        if login is None or token is None:
            return (
                401,
                {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"},
                {},
            )
        headers = {"X-OAuth-Scopes": token.scope} if not self.expiring or token.scope else {}
        if template == "/user":
            return 200, self._user(self.users[login]), headers
        page = int(request.query_params.get("page", "1"))
        per_page = min(int(request.query_params.get("per_page", "30")), 100)
        mine = sorted(
            (r for r in self.repos.values() if login in {r.owner, *r.collaborators}),
            key=lambda r: -r.updated,
        )
        chunk = mine[(page - 1) * per_page : page * per_page]
        if page * per_page < len(mine):
            query = urlencode({**request.query_params, "page": str(page + 1)})
            headers["Link"] = f'<{self.base_url}{API_PREFIX}/user/repos?{query}>; rel="next"'
        return 200, [self._repository(r) for r in chunk], headers

    def _revoke(self, request: Request, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if path.split("/")[2] != self.client_id or request.headers.get("authorization") != (
            f"Basic {expected}"
        ):
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
        token = self.tokens.get(body["access_token"])
        if token is None or not token.alive:
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
        self._kill(token.pair)
        return 204, None, {}

    def _bearer(self, request: Request) -> tuple[str | None, Token | None]:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        token = self.tokens.get(value.strip()) if scheme.lower() in ("bearer", "token") else None
        if token is None or token.refresh or not token.works(self.now()):
            return None, None
        return token.login, token

    def _respond(
        self, operation: dict[str, Any], status: int, answer: Any, headers: dict[str, str],
        what: str,
    ) -> Response:  # fmt: skip
        if status == 204:
            return Response(status_code=204, headers=headers)
        schema = spec().response_schema(operation, status)
        if schema is not None:
            for problem in spec().validate(schema, answer):
                self.violations.append(f"{what} {status}: {problem}")
        return JSONResponse(answer, status_code=status, headers=headers)

    def _refuse_rest(self, status: int, why: str) -> Response:
        self.refused.append(why)
        return JSONResponse({"message": why, "documentation_url": DOCS}, status_code=status)

    def _user(self, user: User) -> dict[str, Any]:
        owned = [r for r in self.repos.values() if r.owner == user.login and r.private]
        return {
            **self._simple_user(user),
            "name": user.name,
            "email": None,
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "total_private_repos": len(owned),
            "owned_private_repos": len(owned),
            "two_factor_authentication": True,
        }

    def _simple_user(self, user: User) -> dict[str, Any]:
        return {
            "login": user.login,
            "id": user.id,
            "node_id": f"U_{user.id}",
            "avatar_url": f"{self.base_url}/avatars/{user.login}",
            "url": f"{self.base_url}{API_PREFIX}/users/{user.login}",
            "html_url": f"{self.base_url}/{user.login}",
            "type": "User",
            "site_admin": False,
        }

    def _repository(self, repo: Repo) -> dict[str, Any]:
        stamp = datetime.fromtimestamp(repo.updated, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        owner = self.users.get(repo.owner) or User(repo.owner, 1)
        git = self.git_base.rstrip("/")
        return {
            "id": abs(hash(repo.full_name)) % 10**9,
            "node_id": f"R_{repo.name}",
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": self._simple_user(owner),
            "private": repo.private,
            "html_url": f"{self.base_url}/{repo.full_name}",
            "description": repo.description,
            "fork": False,
            "url": f"{self.base_url}{API_PREFIX}/repos/{repo.full_name}",
            "clone_url": f"{git}/{repo.full_name}.git",
            "ssh_url": f"git@{urlsplit(git).hostname}:{repo.full_name}.git",
            "default_branch": repo.default_branch,
            "visibility": "private" if repo.private else "public",
            "created_at": stamp,
            "updated_at": stamp,
            "pushed_at": stamp,
            "archived": False,
        }


def _under_callback(redirect: str, callback: str) -> bool:
    """GitHub's rule: the host (sub-domains aside) and port match, the path is under the
    callback's (a loopback URL's port may differ)."""
    given, registered = urlsplit(redirect), urlsplit(callback)
    if given.hostname is None or registered.hostname is None:
        return False
    same_host = given.hostname == registered.hostname or given.hostname.endswith(
        "." + registered.hostname
    )
    loopback = given.hostname in ("127.0.0.1", "::1")
    same_port = given.port == registered.port or loopback
    return same_host and same_port and given.path.startswith(registered.path)


def _s256(verifier: str) -> str:
    raw = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _error(code: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "error_description": description, "error_uri": DOCS, **extra}


def _oauth_answer(request: Request, answer: dict[str, Any]) -> Response:
    """JSON for ``Accept: application/json``, else the form encoding GitHub defaults to."""
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(answer)
    return PlainTextResponse(
        urlencode({k: str(v) for k, v in answer.items()}),
        media_type="application/x-www-form-urlencoded",
    )
