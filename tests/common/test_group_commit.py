"""Group commit: units of work that queue up together share a transaction, and only the unit at
fault sees its error."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from sqlalchemy import event
from sqlmodel import SQLModel, func, select

from claudecloud_common.contracts.instances import InstanceRunning, InstanceStatus
from claudecloud_common.db import AsyncSession, Database
from claudecloud_common.grouping import GroupCommit
from claudecloud_common.inbox import InboxMessage, mark_processed
from claudecloud_common.outbox import OutboxMessage, add_to_outbox


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'group.db'}")
    async with database.engine.begin() as connection:
        await connection.run_sync(
            SQLModel.metadata.create_all,
            tables=[OutboxMessage.__table__, InboxMessage.__table__],  # type: ignore[attr-defined]
        )
    yield database
    await database.dispose()


def count_commits(db: Database) -> list[int]:
    commits = [0]

    @event.listens_for(db.engine.sync_engine, "commit")
    def committed(_connection: object) -> None:
        commits[0] += 1

    return commits


async def announce(session: AsyncSession) -> UUID:
    event_ = InstanceRunning(instance_id=uuid4(), user_id=uuid4(), status=InstanceStatus.RUNNING)
    add_to_outbox(session, event_)
    return event_.instance_id


async def rows(db: Database) -> int:
    async with db.read() as session:
        return int((await session.exec(select(func.count()).select_from(OutboxMessage))).one())


async def test_units_queued_together_share_one_commit(db: Database) -> None:
    commits = count_commits(db)
    group = GroupCommit(db)
    ids = await asyncio.gather(*(group.run(announce) for _ in range(20)))
    assert len(set(ids)) == 20
    assert await rows(db) == 20
    assert commits[0] < 5  # 20 one by one would be 20


async def test_a_lone_unit_runs_at_once_in_its_own_transaction(db: Database) -> None:
    commits = count_commits(db)
    await GroupCommit(db).run(announce)
    assert (commits[0], await rows(db)) == (1, 1)


async def test_only_the_unit_at_fault_fails_and_the_others_commit(db: Database) -> None:
    group = GroupCommit(db)
    message_id = uuid4()

    async def processed_twice(session: AsyncSession) -> None:
        mark_processed(session, message_id, "test")
        mark_processed(session, message_id, "test")  # the primary key refuses the second

    results = await asyncio.gather(
        *(group.run(announce) for _ in range(5)),
        group.run(processed_twice),
        *(group.run(announce) for _ in range(5)),
        return_exceptions=True,
    )
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 1
    assert "UNIQUE" in str(failed[0]) or "unique" in str(failed[0])
    assert await rows(db) == 10


WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


async def test_each_unit_runs_in_its_callers_context(db: Database) -> None:
    group = GroupCommit(db)

    async def caller(name: str) -> str:
        WHO.set(name)

        async def work(session: AsyncSession) -> str:
            await announce(session)
            return WHO.get()

        return await group.run(work)

    names = [f"caller-{i}" for i in range(10)]
    assert await asyncio.gather(*(caller(n) for n in names)) == names
