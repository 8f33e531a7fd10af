"""Integration tests: the provisioner in-process on a real NATS and Postgres (the suite's own).

One fresh Postgres database per run; each test is isolated by its own user and instance ids,
and the bus streams are emptied at the start of the run.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError

from claudecloud_common.contracts.base import Message
from tests.provisioner_app import ProvisionerFactory, provisioner_factory
from tests.support import create_database, drop_database


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    url = await create_database("cc_integration")
    yield url
    await drop_database(url)


@pytest.fixture(scope="session")
async def bus(nats_url: str) -> AsyncIterator[NatsClient]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    for stream in ("CMD", "EVT", "DLQ"):
        with contextlib.suppress(NotFoundError):  # a clean slate: no stale consumers or messages
            await js.delete_stream(stream)
    yield nc
    await nc.close()


class Events:
    """Every ``evt.instance.*`` seen on the bus since the test started."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def of(self, instance_id: object, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.seen
            if e["instance_id"] == str(instance_id) and (kind is None or e["type"] == kind)
        ]


@pytest.fixture
async def events(bus: NatsClient) -> AsyncIterator[Events]:
    collected = Events()

    async def on_event(msg: Any) -> None:
        collected.seen.append(json.loads(msg.data))

    sub = await bus.subscribe("evt.instance.>", cb=on_event)
    yield collected
    await sub.unsubscribe()


@pytest.fixture
def provisioner(
    database_url: str, bus: NatsClient, nats_url: str, tmp_path: Path
) -> ProvisionerFactory:
    """Start the real provisioner app (lifespan, relay, subscribers) with extra settings."""
    return provisioner_factory(database_url, nats_url, tmp_path)


async def publish(
    bus: NatsClient, subject: str, message: Message | bytes, msg_id: str | None = None
) -> None:
    data = message if isinstance(message, bytes) else message.model_dump_json().encode()
    if msg_id is None and isinstance(message, Message):
        msg_id = str(message.id)
    headers = {"Nats-Msg-Id": msg_id} if msg_id else None
    await bus.jetstream().publish(subject, data, headers=headers)
