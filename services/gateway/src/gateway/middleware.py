"""ASGI middleware of the gateway."""

from __future__ import annotations

import json

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-XSS-Protection": "0",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
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
        body = json.dumps({"error": "PayloadTooLarge", "detail": detail}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
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
