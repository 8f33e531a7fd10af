"""Outbox and inbox rows are written only by a unit of work: anywhere else they raise at once.
A read session refuses every write, on SQLite as on PostgreSQL, and costs PostgreSQL no round
trip beyond its queries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import event, insert, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel, func, select

from claudecloud_common.contracts.instances import InstanceRunning, InstanceStatus
from claudecloud_common.db import Database, NoUnitOfWork, WriteInRead
from claudecloud_common.inbox import INBOX, InboxMessage, mark_processed
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


def _inbox_row() -> InboxMessage:
    return InboxMessage(message_id=uuid4(), consumer="test.consumer")


async def test_every_kind_of_write_inside_a_read_raises_and_writes_nothing(db: Database) -> None:
    async with db.read() as session:
        session.add(_inbox_row())
        with pytest.raises(WriteInRead):
            await session.flush()  # the ORM's write
    with pytest.raises(WriteInRead):
        async with db.read() as session:
            session.add(_inbox_row())  # never flushed: would vanish without a word
    async with db.read() as session:
        with pytest.raises(WriteInRead):
            await session.exec(insert(INBOX).values(message_id=uuid4(), consumer="c"))
        with pytest.raises(DBAPIError, match=r"read-?only"):  # SQL text: the database refuses
            await session.exec(text("DELETE FROM inbox"))  # type: ignore[call-overload]
    assert await _count(db, InboxMessage) == 0


async def test_a_read_leaves_its_connection_nothing_a_transaction_inherits(db: Database) -> None:
    for _ in range(3):  # reads and writes in turn, on whatever connections the pools hand out
        async with db.read() as session:
            before = int((await session.exec(select(func.count()).select_from(InboxMessage))).one())
        async with db.transaction() as session:
            session.add(_inbox_row())
        assert await _count(db, InboxMessage) == before + 1


async def test_a_read_on_postgres_sends_its_queries_and_nothing_else() -> None:
    url = await create_database("cc_read")
    database = Database(url, pool_size=1)
    sent: list[str] = []
    for engine in (database.reader, database.engine):
        _record_statements(engine.sync_engine, sent)
    try:
        for session_of in (database.read, database.transaction):
            async with session_of() as session:  # the connection's first use (types, prepare)
                await session.exec(select(func.now()))
            sent.clear()
            async with session_of() as session:
                await session.exec(select(func.now()))
            if session_of == database.read:
                in_a_read = list(sent)
    finally:
        await database.dispose()
        await drop_database(url)
    assert len(in_a_read) == 1, in_a_read  # no BEGIN, SET or ROLLBACK around it
    assert len(sent) == 3, sent  # what a transaction costs, for comparison: BEGIN, it, COMMIT


def _record_statements(engine: Any, sent: list[str]) -> None:
    """Every statement a connection sends: queries (prepared, through SQLAlchemy's cursor) and
    the ones asyncpg sends on its own (BEGIN, COMMIT, ROLLBACK, SET: its query logger)."""

    def on_connect(connection: Any, _record: Any) -> None:
        connection.driver_connection.add_query_logger(lambda record: sent.append(record.query))

    def on_cursor(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "before_cursor_execute", on_cursor)
