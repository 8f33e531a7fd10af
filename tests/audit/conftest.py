"""The audit service in this process on the suite's NATS and one Postgres database for the
folder (replicas share it, as in production); each test keeps to users of its own, so what
other tests recorded never counts."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import nats
import pytest
from faststream import TestApp
from nats.aio.client import Client as NatsClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from audit.app import create_app
from audit.settings import AuditSettings
from claudecloud_common.contracts.audit import (
    Actor,
    ActorKind,
    AuditKind,
    AuditPage,
    AuditRecorded,
    AuditVerification,
    ListAudit,
    VerifyAudit,
)
from claudecloud_common.rpc import request_on
from tests.support import create_database, drop_database, eventually

CONSUMER = "audit-evt-audit-recorded"
"""The audit service's durable consumer on ``evt.audit.recorded``."""
Replica = Callable[..., AbstractAsyncContextManager[AuditSettings]]


@pytest.fixture(scope="session")
async def audit_db() -> AsyncIterator[str]:
    url = await create_database("cc_audit")
    yield url
    await drop_database(url)


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[NatsClient]:
    nc = await nats.connect(nats_url)
    yield nc
    await nc.close()


@pytest.fixture
def replica(audit_db: str, nats_url: str, tmp_path: Path) -> Replica:
    """``async with replica(**settings):`` runs one audit service process's worth in this loop."""

    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[AuditSettings]:
        values: dict[str, Any] = {
            "database_url": audit_db,
            "nats_url": nats_url,
            "data_dir": tmp_path,
            "outbox_poll_seconds": 0.5,
            "retention_interval_seconds": 0,
            **overrides,
        }
        settings = AuditSettings(**values)
        async with TestApp(create_app(settings)):
            yield settings

    return start


def recorded(
    user: uuid.UUID | None, kind: AuditKind = AuditKind.FILE_READ, **detail: Any
) -> AuditRecorded:
    return AuditRecorded(
        user_id=user,
        kind=kind,
        actor=Actor(kind=ActorKind.USER, id=str(user)),
        detail=detail,
    )


async def publish(bus: NatsClient, event: AuditRecorded, *, message_id: str | None = None) -> None:
    """On the bus as a service publishes it (``message_id``: as a redelivery after JetStream's
    duplicate window would come, under another id)."""
    headers = {"Nats-Msg-Id": message_id or str(event.id)}
    await bus.jetstream().publish(
        str(event.subject), event.model_dump_json().encode(), headers=headers
    )


async def records(bus: NatsClient, user: uuid.UUID | None, **query: Any) -> AuditPage:
    return await request_on(bus, ListAudit(user_id=user, **query), timeout=10)


async def settled(bus: NatsClient, user: uuid.UUID, count: int) -> AuditPage:
    """The user's records once there are ``count`` of them."""

    async def enough() -> AuditPage | None:
        page = await records(bus, user, limit=500)
        return page if len(page.items) >= count else None

    page: AuditPage = await eventually(enough, timeout=30, what=f"{count} records of {user}")
    return page


async def drained(bus: NatsClient) -> None:
    """Every event on the bus so far handled by the audit service (its consumer has nothing
    pending or unacknowledged)."""
    js = bus.jetstream()

    async def empty() -> bool:
        info = await js.consumer_info("EVT", CONSUMER)
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)

    await eventually(empty, timeout=30, what="the audit service's consumer drained")


async def verify(bus: NatsClient, user: uuid.UUID | None = None) -> AuditVerification:
    return await request_on(bus, VerifyAudit(user_id=user), timeout=30)


async def sql(url: str, statement: str, **values: Any) -> None:
    """Change the audit database behind the service's back, as someone with its password would."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement), values)
    finally:
        await engine.dispose()
