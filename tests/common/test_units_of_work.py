"""Outbox and inbox rows are written only by a unit of work: anywhere else they raise at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import pytest
from sqlmodel import SQLModel, func, select

from claudecloud_common.contracts.instances import InstanceRunning, InstanceStatus
from claudecloud_common.db import Database, NoUnitOfWork
from claudecloud_common.inbox import InboxMessage, mark_processed
from claudecloud_common.outbox import OutboxMessage, add_to_outbox
from tests.support import create_database, drop_database

pytestmark = pytest.mark.integration  # a real PostgreSQL beside SQLite


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'uow.db'}"
    else:
        url = await create_database("cc_uow")
    database = Database(url)
    async with database.engine.begin() as connection:
        await connection.run_sync(
            SQLModel.metadata.create_all,
            tables=[OutboxMessage.__table__, InboxMessage.__table__],  # type: ignore[attr-defined]
        )
    yield database
    await database.dispose()
    if request.param == "postgres":
        await drop_database(url)


def _event() -> InstanceRunning:
    return InstanceRunning(instance_id=uuid4(), user_id=uuid4(), status=InstanceStatus.RUNNING)


async def _count(db: Database, table: type[SQLModel]) -> int:
    async with db.read() as session:
        return int((await session.exec(select(func.count()).select_from(table))).one())


async def test_an_outbox_row_on_a_plain_session_raises_and_writes_nothing(db: Database) -> None:
    async with db.sessions() as session:
        with pytest.raises(NoUnitOfWork, match=r"outside Database\.transaction\(\)"):
            add_to_outbox(session, _event())
        await session.commit()
    assert await _count(db, OutboxMessage) == 0


async def test_an_inbox_row_on_a_plain_session_raises(db: Database) -> None:
    async with db.sessions() as session:
        with pytest.raises(NoUnitOfWork):
            mark_processed(session, uuid4(), "test.consumer")


async def test_a_session_kept_after_its_transaction_ended_raises(db: Database) -> None:
    async with db.transaction() as session:
        add_to_outbox(session, _event())
    with pytest.raises(NoUnitOfWork):
        add_to_outbox(session, _event())
    assert await _count(db, OutboxMessage) == 1


async def test_inside_a_transaction_both_rows_are_written(db: Database) -> None:
    async with db.transaction() as session:
        add_to_outbox(session, _event())
        mark_processed(session, uuid4(), "test.consumer")
    assert await _count(db, OutboxMessage) == 1
    assert await _count(db, InboxMessage) == 1
