"""A user's webhook endpoint, as the tests' stand-in: a real HTTP server on 127.0.0.1 that keeps
every request and answers what the test tells it to (in order, then the last one again)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devstack import free_port
from devstack.waiting import eventually

SIGNATURE = "claudecloud-signature"


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found

    def signed_with(self, secret: str) -> bool:
        """Whether one of the ``v1`` signatures is ``secret``'s over ``"<t>.<body>"`` (checked
        here from the raw body, as a receiver following the documented scheme would)."""
        parts = [p.split("=", 1) for p in self.headers[SIGNATURE].split(",")]
        stamp = next(v for k, v in parts if k == "t")
        expected = hmac.new(
            secret.encode(), f"{stamp}.".encode() + self.body, hashlib.sha256
        ).hexdigest()
        return any(k == "v1" and hmac.compare_digest(v, expected) for k, v in parts)

    @property
    def timestamp(self) -> int:
        parts = dict(p.split("=", 1) for p in self.headers[SIGNATURE].split(",") if p[:2] == "t=")
        return int(parts["t"])

    @property
    def signatures(self) -> int:
        return sum(1 for p in self.headers[SIGNATURE].split(",") if p.startswith("v1="))


@dataclass
class Receiver:
    """``answers``: (status, headers) per request in turn; the last repeats."""

    answers: list[tuple[int, dict[str, str]]] = field(default_factory=lambda: [(200, {})])
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def answer(self, *statuses: int | tuple[int, dict[str, str]]) -> None:
        self.answers = [s if isinstance(s, tuple) else (s, {}) for s in statuses]

    async def _hook(self, request: Request) -> Response:
        self.received.append(Received(dict(request.headers), await request.body()))
        status, headers = self.answers[min(len(self.received), len(self.answers)) - 1]
        return Response(f"answer {status}", status_code=status, headers=headers)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/{path:path}", self._hook, methods=["POST", "GET"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None)
        config.access_log = False
        self._server = server = uvicorn.Server(config)
        self._task = task = asyncio.create_task(server.serve())

        def listening() -> bool:
            if task.done():
                task.result()
            return server.started

        await eventually(listening, timeout=30, what="the receiver listening")

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task

    async def got(self, count: int, timeout: float = 20) -> list[Received]:
        """The first ``count`` requests, once they came."""

        def arrived() -> list[Received] | None:
            return self.received[:count] if len(self.received) >= count else None

        found: list[Received] = await eventually(
            arrived, timeout=timeout, what=f"{count} deliveries"
        )
        return found
