"""SQL for instance activity and decisions. Only the activity service reads these tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Table, and_, bindparam, delete, func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select

from claudecloud_common.contracts.instances import InstanceStatus
from claudecloud_common.db import AsyncSession

from .models import Decision, InstanceActivity, MemoryRelief

ACTIVITY: Table = InstanceActivity.__table__  # type: ignore[attr-defined]
DECISIONS: Table = Decision.__table__  # type: ignore[attr-defined]
RELIEFS: Table = MemoryRelief.__table__  # type: ignore[attr-defined]
_INSERT = {"postgresql": pg_insert, "sqlite": sqlite_insert}


class ActivityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, instance_id: UUID, *, for_update: bool = False) -> InstanceActivity | None:
        query = select(InstanceActivity).where(InstanceActivity.instance_id == instance_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.exec(query)).first()

    def add(self, row: InstanceActivity) -> None:
        self.session.add(row)

    async def known_ids(self, ids: Sequence[UUID]) -> set[UUID]:
        if not ids:
            return set()
        query = select(col(InstanceActivity.instance_id)).where(
            col(InstanceActivity.instance_id).in_(ids)
        )
        return set((await self.session.exec(query)).all())

    async def following(
        self, status: InstanceStatus = InstanceStatus.RUNNING
    ) -> dict[UUID, datetime]:
        """The instances followed as running (or ``status``: frozen; their usage is open), with
        ``status_at``."""
        query = select(col(InstanceActivity.instance_id), col(InstanceActivity.status_at)).where(
            InstanceActivity.status == status
        )
        return {row[0]: row[1] for row in (await self.session.exec(query)).all()}

    async def claim_due(
        self,
        now: datetime,
        *,
        stale_pause_before: datetime,
        next_poll_at: datetime,
        interval: int,
        limit: int,
    ) -> list[InstanceActivity]:
        """Take up to ``limit`` instances due for a poll and move their next poll on, in one
        statement. Rows another replica is claiming are skipped (not waited for), so replicas
        share a tick's polls between them and no instance is polled twice in an interval."""
        due = (
            select(col(InstanceActivity.instance_id))
            .where(
                col(InstanceActivity.next_poll_at) <= now,
                or_(
                    # frozen ones too: the provider's view only (their time, their memory)
                    col(InstanceActivity.status).in_(
                        [InstanceStatus.RUNNING, InstanceStatus.FROZEN]
                    ),
                    # a pause asked for long ago and never answered: look again
                    and_(
                        col(InstanceActivity.status) == InstanceStatus.PAUSING,
                        col(InstanceActivity.pause_requested_at) < stale_pause_before,
                    ),
                ),
            )
            .order_by(col(InstanceActivity.next_poll_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            update(ACTIVITY)
            .where(ACTIVITY.c.instance_id.in_(due.scalar_subquery()))
            .values(next_poll_at=next_poll_at, claimed_interval=interval)
            .returning(*ACTIVITY.c)
        )
        connection = await self.session.connection()
        rows = (await connection.execute(statement)).all()
        return [InstanceActivity.model_construct(**row._mapping) for row in rows]

    async def apply(self, changes: Sequence[tuple[UUID, dict[str, Any]]]) -> None:
        """Update each instance's row with its own values, a statement per set of columns."""
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for instance_id, values in changes:
            key = tuple(sorted(values))
            by_columns.setdefault(key, []).append({**values, "match_id": instance_id})
        connection = await self.session.connection()
        for columns, rows in by_columns.items():
            statement = (
                update(ACTIVITY)
                .where(ACTIVITY.c.instance_id == bindparam("match_id"))
                .values({name: bindparam(name, type_=ACTIVITY.c[name].type) for name in columns})
            )
            await connection.execute(statement, rows)

    async def frozen_oldest_first(self, limit: int) -> Sequence[InstanceActivity]:
        """The frozen instances, the longest-frozen first."""
        query = (
            select(InstanceActivity)
            .where(InstanceActivity.status == InstanceStatus.FROZEN)
            .order_by(col(InstanceActivity.frozen_at), col(InstanceActivity.instance_id))
            .limit(limit)
        )
        return (await self.session.exec(query)).all()

    async def claim_relief(self, relief: MemoryRelief) -> bool:
        """Record the interval's memory relief; False when another replica recorded it first
        (an uncommitted one is waited for)."""
        connection = await self.session.connection()
        values = {c.key: getattr(relief, c.key) for c in RELIEFS.c}
        insert = _INSERT[connection.dialect.name](RELIEFS).values(values)
        claimed = await connection.execute(insert.on_conflict_do_nothing())  # type: ignore[attr-defined]
        return bool(claimed.rowcount)

    async def relief_done(self, interval: int, stopped: int) -> None:
        statement = update(RELIEFS).where(RELIEFS.c.interval == interval).values(stopped=stopped)
        await self.session.exec(statement)

    async def record(self, decisions: Sequence[dict[str, Any]]) -> None:
        """Insert decisions; one already recorded (the same id) is left as it is."""
        if not decisions:
            return
        connection = await self.session.connection()
        insert = _INSERT[connection.dialect.name]
        statement = insert(DECISIONS).on_conflict_do_nothing()  # type: ignore[attr-defined]
        await connection.execute(statement, list(decisions))

    async def decisions(self, instance_id: UUID, limit: int) -> Sequence[Decision]:
        query = (
            select(Decision)
            .where(Decision.instance_id == instance_id)
            .order_by(col(Decision.decided_at).desc(), col(Decision.recorded_at).desc())
            .limit(limit)
        )
        return (await self.session.exec(query)).all()

    async def forget_decisions(self, before: datetime) -> None:
        await self.session.exec(delete(Decision).where(col(Decision.decided_at) < before))
        await self.session.exec(delete(MemoryRelief).where(col(MemoryRelief.decided_at) < before))

    async def counts(self, active_since: datetime) -> tuple[list[tuple[str, str, int]], int]:
        """Instances by status and condition, and how many running ones were active lately."""
        status, condition = col(InstanceActivity.status), col(InstanceActivity.condition)
        by = select(status, condition, func.count()).group_by(status, condition)
        groups = [
            (str(state), str(named) if named else "none", int(n))
            for state, named, n in (await self.session.exec(by)).all()
        ]
        active = select(func.count()).where(
            InstanceActivity.status == InstanceStatus.RUNNING,
            col(InstanceActivity.last_activity_at) >= active_since,
            col(InstanceActivity.last_activity_reason) != "started",
        )
        return groups, int((await self.session.exec(active)).one())
