"""The webhooks service in this process on the suite's NATS and a Postgres database per test,
delivering to receivers on 127.0.0.1 (development settings: private addresses allowed) with
retries a few tenths of a second apart; each test keeps to users of its own."""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import nats
import pytest
from faststream import TestApp
from nats.aio.client import Client as NatsClient

from claudecloud_common.contracts.base import Message
from claudecloud_common.contracts.instances import InstanceRunning, InstanceStatus
from claudecloud_common.contracts.webhooks import (
    CreateEndpoint,
    DeliveryList,
    EndpointCreated,
    ListDeliveries,
)
from claudecloud_common.rpc import request_on
from tests.support import create_database, drop_database
from webhooks.addresses import Resolver, system_resolver
from webhooks.app import create_app
from webhooks.settings import WebhooksSettings

from .receiver import Receiver

Replica = Callable[..., AbstractAsyncContextManager[WebhooksSettings]]
KEY = secrets.token_urlsafe(48)
"""The run's sealing key (every replica of the run opens what the others sealed)."""


@pytest.fixture
async def webhooks_db() -> AsyncIterator[str]:
    """A database per test: a delivery still being retried when one test ends must not be
    tried by the next test's replica."""
    url = await create_database("cc_webhooks")
    yield url
    await drop_database(url)


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[NatsClient]:
    nc = await nats.connect(nats_url)
    yield nc
    await nc.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    await found.start()
    yield found
    await found.stop()


@pytest.fixture
def replica(webhooks_db: str, nats_url: str, tmp_path: Path) -> Replica:
    """``async with replica(resolve=..., **settings):`` runs the webhooks service here."""

    @contextlib.asynccontextmanager
    async def start(
        resolve: Resolver = system_resolver, **overrides: Any
    ) -> AsyncIterator[WebhooksSettings]:
        values: dict[str, Any] = {
            "database_url": webhooks_db,
            "nats_url": nats_url,
            "data_dir": tmp_path,
            "secrets_key": KEY,
            "outbox_poll_seconds": 0.5,
            "poll_seconds": 0.1,
            "retry_backoff_seconds": (0.2, 0.3),
            "timeout_seconds": 5.0,
            **overrides,
        }
        settings = WebhooksSettings(**values)
        async with TestApp(create_app(settings, resolve=resolve)):
            yield settings

    return start


async def register(
    bus: NatsClient, user: uuid.UUID, url: str, events: list[str] | None = None
) -> EndpointCreated:
    query = CreateEndpoint(user_id=user, url=url, events=events or ["instance.running"])
    return await request_on(bus, query, timeout=10)


async def deliveries(bus: NatsClient, user: uuid.UUID, endpoint: uuid.UUID) -> DeliveryList:
    return await request_on(bus, ListDeliveries(user_id=user, endpoint_id=endpoint), timeout=10)


async def publish(bus: NatsClient, event: Message) -> None:
    """As the provisioner (or activity) publishes it."""
    headers = {"Nats-Msg-Id": str(event.id)}
    await bus.jetstream().publish(
        str(event.subject), event.model_dump_json().encode(), headers=headers
    )


def running(user: uuid.UUID) -> InstanceRunning:
    return InstanceRunning(
        instance_id=uuid.uuid4(), user_id=user, status=InstanceStatus.RUNNING, host="10.0.0.7:3001"
    )
