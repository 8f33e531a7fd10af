"""Which of a worker's HTTP routes answer on which of its listeners, and its bus docs page.

A worker's own HTTP port is internal: ``/healthz``, ``/metrics`` and its AsyncAPI document,
for the launcher, Prometheus and operators. What outsiders must reach (billing: Stripe's
webhook) gets a :class:`PublicListener`, a port of its own serving those routes and ``/healthz``
alone, so exposing it to the internet exposes nothing else. One server listens on both; a
request's listener is the local port it came in on (``scope["server"]``).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from faststream.asgi import AsgiResponse
from faststream.asgi.types import ASGIApp, Receive, Scope, Send

__all__ = ["DOCS_POLICY", "OnListener", "PublicListener", "asyncapi_page"]

DOCS_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""The bus docs page loads nothing and runs nothing: it is text and a link."""


@dataclass(frozen=True)
class PublicListener:
    """A port for callers outside the platform, serving ``routes`` (exact paths) and
    ``/healthz`` only."""

    port: int
    routes: Sequence[tuple[str, ASGIApp]] = field(default_factory=list)
    host: str | None = None
    """Where it listens; None: where the worker's own port does."""


class OnListener:
    """A route that answers only on the public listener (``public``) or only elsewhere; on the
    other it is a 404, as if it did not exist."""

    def __init__(self, app: ASGIApp, *, public_port: int, public: bool) -> None:
        self.app = app
        self.public_port = public_port
        self.public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server") or (None, None)
        if scope["type"] == "http" and (server[1] == self.public_port) is not self.public:
            body = json.dumps({"error": "NotFound", "detail": "no such route here"}).encode()
            await AsgiResponse(body, 404, {"content-type": "application/json"})(
                scope, receive, send
            )
            return
        await self.app(scope, receive, send)


def asyncapi_page(service: str, document: dict[str, Any]) -> str:
    """What a worker receives, from its AsyncAPI document, as a page that runs no script (the
    interactive viewer FastStream serves loads its code from a CDN)."""
    rows = "".join(
        f"<li><code>{html.escape(str(channel.get('address')))}</code>: "
        f"{html.escape(', '.join(channel.get('messages', {})))}</li>"
        for channel in document.get("channels", {}).values()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ClaudeCloud {html.escape(service)}: bus</title>
<meta name="referrer" content="no-referrer"></head>
<body><h1>ClaudeCloud {html.escape(service)}</h1>
<p>What this service receives (its AsyncAPI 3.0 document:
<a href="/asyncapi.json">/asyncapi.json</a>):</p><ul>{rows}</ul>
<p>Every subject of the bus, with its schema, an example and the NATS CLI line, is on the
gateway's <code>/docs/asyncapi</code> (outside production; <code>python -m gateway.asyncapi</code>
prints it).</p></body></html>"""
