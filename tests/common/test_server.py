"""Every service's HTTP server refuses an oversized request head with 431 before parsing it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from claudecloud_common.server import DEFAULT_HEAD_BYTES, HeadLimitedH11Protocol
from devstack import free_port
from tests.support import eventually


async def ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    chosen = free_port()
    config = uvicorn.Config(
        ok,
        host="127.0.0.1",
        port=chosen,
        http=HeadLimitedH11Protocol,
        h11_max_incomplete_event_size=DEFAULT_HEAD_BYTES,
        lifespan="off",
        log_config=None,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, timeout=10, what="the server listening")
    yield chosen
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)


async def status_for(port: int, head: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return line


async def test_an_oversized_head_in_one_piece_is_a_431(port: int) -> None:
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (64 * 1024) + b"\r\n\r\n"
    assert (await status_for(port, head)).startswith(b"HTTP/1.1 431")


async def test_a_normal_request_is_answered(port: int) -> None:
    assert (await status_for(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")).startswith(
        b"HTTP/1.1 200"
    )
