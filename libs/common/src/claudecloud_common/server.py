"""How every service's HTTP server reads a request: h11, with the request line and headers capped.

uvicorn's default parser (httptools) reads a request head of any size into memory before the
application sees it. h11 stops at ``h11_max_incomplete_event_size`` bytes of an unfinished head
(``MAX_HEADER_BYTES``), but only when a read ends inside the head (uvicorn then answers 400).
This protocol counts the head as it arrives, whole or in pieces, and past the cap answers what
the limit means, 431 Request Header Fields Too Large, before parsing a single header.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "DEFAULT_HEAD_BYTES",
    "HeadLimitedH11Protocol",
    "http_server",
    "listen_socket",
    "serve",
]

DEFAULT_HEAD_BYTES = 16 * 1024  # h11's own default, should uvicorn be given none


class HeadLimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering 431 as soon as the request line and headers being
    received pass the cap. h11's own cap only covers a head still incomplete after a read; a
    whole oversized head arriving in one read would otherwise be parsed."""

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and self._head_size(data) > self._limit:
            self._refuse()
            return
        super().data_received(data)

    @property
    def _limit(self) -> int:
        return self.config.h11_max_incomplete_event_size or DEFAULT_HEAD_BYTES

    def _head_size(self, data: bytes) -> int:
        unread, _closed = self.conn.trailing_data  # below the cap, or we had refused already
        received = unread + data
        end = received.find(b"\r\n\r\n")
        return len(received) if end < 0 else end + 4

    def _refuse(self) -> None:
        detail = f"the request line and headers are larger than {self._limit} bytes"
        body = json.dumps({"error": "RequestHeaderFieldsTooLarge", "detail": detail}).encode()
        head = (
            "HTTP/1.1 431 Request Header Fields Too Large\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()


def http_server(
    app: Any, *, max_header_bytes: int = DEFAULT_HEAD_BYTES, **options: Any
) -> uvicorn.Server:
    """A uvicorn server for an ASGI app with our logging (no uvicorn log config of its own) and
    request heads capped at ``max_header_bytes`` (431 beyond); ``options`` are more of uvicorn's.
    Started on sockets of :func:`listen_socket`, one server can listen on several ports."""
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
        http=HeadLimitedH11Protocol,
        h11_max_incomplete_event_size=max_header_bytes,
        **options,
    )
    return uvicorn.Server(config)


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` for :func:`http_server` (the server listens on it)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


def serve(
    app: Any,
    host: str,
    port: int,
    *,
    max_header_bytes: int = DEFAULT_HEAD_BYTES,
    also: Sequence[tuple[str, int]] = (),
    **options: Any,
) -> None:
    """Run an ASGI app on ``host:port`` and on each other ``(host, port)`` of ``also`` (a
    worker's public listener), in one server: one lifespan, one process."""
    server = http_server(app, max_header_bytes=max_header_bytes, **options)
    sockets = [listen_socket(host, port), *(listen_socket(h, p) for h, p in also)]
    server.run(sockets=sockets)
    if not server.started:  # as uvicorn.run: a start-up that failed is an exit status
        raise SystemExit(3)
