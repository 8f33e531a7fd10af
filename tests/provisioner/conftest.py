"""Unit tests: the provisioner's handlers on FastStream's in-memory broker and a SQLite file."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from faststream.nats import TestNatsBroker
from sqlmodel import select

from claudecloud_common.migrations import upgrade_to_head
from claudecloud_common.outbox import OutboxMessage
from provisioner.app import MIGRATIONS, Provisioner, build
from provisioner.providers.fake import read_state
from provisioner.settings import ProvisionerSettings


class Harness:
    """A provisioner on the in-memory broker, with ways to look at what it did."""

    def __init__(self, parts: Provisioner, broker: Any) -> None:
        self.parts = parts
        self.broker = broker

    async def send(self, subject: str, message: Any) -> None:
        await self.broker.publish(
            message, subject, stream="CMD", headers={"Nats-Msg-Id": str(message.id)}
        )

    async def outbox(self) -> list[dict[str, Any]]:
        async with self.parts.db.transaction(notify=False) as session:
            rows = (await session.exec(select(OutboxMessage))).all()
        return [{"subject": r.subject, **json.loads(r.payload)} for r in rows]

    def fake_state(self) -> dict[str, Any]:
        return read_state(self.parts.settings.data_dir / "fake-provider.jsonl")


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    settings = ProvisionerSettings(data_dir=tmp_path, provider="fake", database_url=None)
    await upgrade_to_head(settings.resolved_database_url, MIGRATIONS, "alembic_version_test")
    parts = build(settings)
    async with TestNatsBroker(parts.broker) as broker:
        yield Harness(parts, broker)
    await parts.db.dispose()
