"""ASGI middleware of the gateway."""

from __future__ import annotations

import json
import re
from uuid import uuid4

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from claudecloud_common.logging import bind_correlation

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-XSS-Protection": "0",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    # An answer that says nothing else may load nothing, be framed nowhere, post nowhere else.
    "Content-Security-Policy": (
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}
_HSTS = "max-age=31536000; includeSubDomains"


def security_headers(*, https: bool) -> dict[str, str]:
    """The defensive headers every response carries; HSTS only when served over https."""
    headers = dict(_SECURITY_HEADERS)
    if https:
        headers["Strict-Transport-Security"] = _HSTS
    return headers


class SecurityHeaders:
    """Add :func:`security_headers` to every HTTP response that passes through, errors included
    (a response that already sets one keeps its own value)."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.headers = security_headers(https=https)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SAME_SITE_FETCHES = frozenset({"same-origin", "none"})


class CrossSiteRefusal:
    """Refuse (403) any state-changing request a browser sent from a page that is not ours.

    Whatever the credential: a form on another site that posts a sign-in link of the attacker's
    own account to ``/auth/verify`` would sign the victim in as the attacker. A browser says
    where a request comes from (``Origin``; ``Sec-Fetch-Site``); a client that says neither (the
    CLI, curl, a webhook) is not a page and passes.
    """

    def __init__(self, app: ASGIApp, *, allowed_origins: frozenset[str]) -> None:
        self.app = app
        self.allowed_origins = allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in _SAFE_METHODS:
            headers = Headers(scope=scope)
            if self._cross_site(headers):
                detail = "cross-site request refused: send it from this site's own pages"
                await _send_json(send, 403, {"error": "CrossSiteRequest", "detail": detail})
                return
        await self.app(scope, receive, send)

    def _cross_site(self, headers: Headers) -> bool:
        origin = headers.get("origin")
        if origin is not None:  # "null" (a sandboxed or data: page) is never ours
            return origin.rstrip("/") not in self.allowed_origins
        fetched_from = headers.get("sec-fetch-site")
        return fetched_from is not None and fetched_from not in _SAME_SITE_FETCHES


_PLAIN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class CorrelationId:
    """One correlation id per request or WebSocket: the client's ``X-Request-ID`` when it is
    short and plain (at most 64 of ``A-Z a-z 0-9 . _ -``), a fresh one otherwise, so nothing a
    client sends grows the bus headers or reaches the logs as it came.

    Kept in ``scope["state"]["correlation_id"]`` (``request.state``), bound to every log line
    of the request, and sent back as ``X-Request-ID``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        offered = Headers(scope=scope).get("x-request-id")
        correlation_id = offered if offered and _PLAIN_ID.fullmatch(offered) else str(uuid4())
        scope.setdefault("state", {})["correlation_id"] = correlation_id

        async def with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = correlation_id
            await send(message)

        with bind_correlation(correlation_id):
            await self.app(scope, receive, with_id if scope["type"] == "http" else send)


class BodySizeLimit:
    """Refuse request bodies over ``limit`` bytes with 413, whether or not they say their size.

    A declared ``Content-Length`` is checked up front; a chunked body is read (up to the limit)
    before the app sees it, then handed over unchanged.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.limit:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        if b"chunked" not in dict(scope["headers"]).get(b"transfer-encoding", b""):
            await self.app(scope, receive, send)  # no length and not chunked: no body at all
            return
        buffered = await self._read_within_limit(receive)
        if buffered is None:
            await self._refuse(send)
            return
        await self.app(scope, _replay(buffered, receive), send)

    async def _read_within_limit(self, receive: Receive) -> list[Message] | None:
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return [*messages, message]
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
            if size > self.limit:
                if more:
                    await _drain(receive, budget=16 * self.limit)  # so the client reads our 413
                return None
            messages.append(message)
            if not more:
                return messages

    async def _refuse(self, send: Send) -> None:
        detail = f"request body is larger than {self.limit} bytes"
        await _send_json(send, 413, {"error": "PayloadTooLarge", "detail": detail})


async def _send_json(send: Send, status: int, content: dict[str, str]) -> None:
    body = json.dumps(content).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _drain(receive: Receive, *, budget: int) -> None:
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        budget -= len(message.get("body", b""))


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
