"""Helpers the tests share: waiting on conditions with a deadline, fresh Postgres databases,
free ports, and reading what reached the bus."""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import nats
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from devstack import free_port

__all__ = ["create_database", "drop_database", "eventually", "free_port", "stream_messages"]

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
MACHINE_NATS = "nats://127.0.0.1:4222"


async def eventually(
    probe: Callable[[], Any],
    *,
    timeout: float = 15.0,
    interval: float = 0.05,
    what: str = "condition",
) -> Any:
    """Poll ``probe`` (plain or async) until it returns something truthy, or fail after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        result = probe()
        last = await result if inspect.isawaitable(result) else result
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout}s (last: {last!r})")


async def create_database(prefix: str) -> str:
    """A new, empty Postgres database; returns its SQLAlchemy asyncpg URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def stream_messages(nats_url: str, stream: str, subject: str) -> list[Msg]:
    """Everything ``stream`` holds on ``subject`` right now (read with an ephemeral consumer)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        if info.state.messages == 0:
            return []
        sub = await js.pull_subscribe(
            subject,
            stream=stream,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, inactive_threshold=30.0),
        )
        found: list[Msg] = []
        while True:
            try:
                batch = await sub.fetch(256, timeout=0.5)
            except nats.errors.TimeoutError:
                break
            found.extend(batch)
            for msg in batch:
                await msg.ack()
        await sub.unsubscribe()
        return found
    finally:
        await nc.close()
