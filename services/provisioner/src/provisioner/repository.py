"""SQL for instances. Only the provisioner reads these tables."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Table, Update, bindparam, exists, func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select

from claudecloud_common.contracts.instances import LIVE_STATUSES, InstanceStatus
from claudecloud_common.db import AsyncSession
from claudecloud_common.inbox import INBOX

from .lifecycle import TRANSITIONAL
from .models import CheckpointRecord, Entitlement, Instance

INSTANCES: Table = Instance.__table__  # type: ignore[attr-defined]

# Built once per dialect: admitting a create runs it every time, and building it costs more.
_UNPROCESSED = select(*(bindparam(column.key, type_=column.type) for column in INSTANCES.c)).where(
    ~exists().where(
        INBOX.c.message_id == bindparam("inbox_message_id", type_=INBOX.c.message_id.type),
        INBOX.c.consumer == bindparam("inbox_consumer"),
    )
)
_INSERT_UNLESS_CONFLICT = {
    name: builder(INSTANCES)
    .from_select([column.key for column in INSTANCES.c], _UNPROCESSED)
    .on_conflict_do_nothing()
    .returning(INSTANCES.c.id)
    for name, builder in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


@functools.cache
def _update_if_pending(columns: tuple[str, ...]) -> Update:
    """The compare-and-set update of ``columns``, built once per set of columns."""
    return (
        update(INSTANCES)
        .where(
            INSTANCES.c.id == bindparam("match_id", type_=INSTANCES.c.id.type),
            INSTANCES.c.pending_command_id
            == bindparam("match_command", type_=INSTANCES.c.pending_command_id.type),
        )
        .values({name: bindparam(name, type_=INSTANCES.c[name].type) for name in columns})
        .returning(*INSTANCES.c)
    )


class InstanceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, instance_id: UUID, *, for_update: bool = False) -> Instance | None:
        query = select(Instance).where(Instance.id == instance_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.exec(query)).first()

    async def many(self, ids: Sequence[UUID]) -> Sequence[Instance]:
        if not ids:
            return []
        query = select(Instance).where(col(Instance.id).in_(ids))
        return (await self.session.exec(query)).all()

    async def live_for_user(self, user_id: UUID) -> Instance | None:
        query = select(Instance).where(
            Instance.user_id == user_id, col(Instance.status).in_(LIVE_STATUSES)
        )
        return (await self.session.exec(query)).first()

    async def list(self, *, user_id: UUID | None, live_only: bool) -> Sequence[Instance]:
        query = select(Instance).order_by(col(Instance.created_at).desc())
        if user_id is not None:
            query = query.where(Instance.user_id == user_id)
        if live_only:
            query = query.where(col(Instance.status).in_(LIVE_STATUSES))
        return (await self.session.exec(query)).all()

    async def stuck(self, updated_before: datetime) -> Sequence[Instance]:
        query = select(Instance).where(
            col(Instance.status).in_(TRANSITIONAL), col(Instance.updated_at) < updated_before
        )
        return (await self.session.exec(query)).all()

    async def running_page(self, after: UUID | None, limit: int) -> Sequence[tuple[UUID, UUID]]:
        """Running instances' (id, user id) after ``after``, in id order."""
        query = (
            select(col(Instance.id), col(Instance.user_id))
            .where(Instance.status == InstanceStatus.RUNNING)
            .order_by(col(Instance.id))
            .limit(limit)
        )
        if after is not None:
            query = query.where(col(Instance.id) > after)
        return [(row[0], row[1]) for row in (await self.session.exec(query)).all()]

    async def with_statuses(self, statuses: Sequence[InstanceStatus]) -> Sequence[Instance]:
        query = select(Instance).where(col(Instance.status).in_(statuses))
        return (await self.session.exec(query)).all()

    async def live_of_users(self, user_ids: Sequence[UUID]) -> Sequence[Instance]:
        """The live instances of ``user_ids`` (the reconciliation check's facts)."""
        if not user_ids:
            return []
        query = select(Instance).where(
            col(Instance.user_id).in_(user_ids), col(Instance.status).in_(LIVE_STATUSES)
        )
        return (await self.session.exec(query)).all()

    async def running_after(self, after: UUID | None, limit: int) -> Sequence[Instance]:
        """Running instances after ``after``, in id order."""
        query = (
            select(Instance)
            .where(Instance.status == InstanceStatus.RUNNING)
            .order_by(col(Instance.id))
            .limit(limit)
        )
        if after is not None:
            query = query.where(col(Instance.id) > after)
        return (await self.session.exec(query)).all()

    async def live_ids(self, ids: set[UUID]) -> set[UUID]:
        """Which of ``ids`` name a live instance."""
        if not ids:
            return set()
        query = select(col(Instance.id)).where(
            col(Instance.id).in_(ids), col(Instance.status).in_(LIVE_STATUSES)
        )
        return set((await self.session.exec(query)).all())

    async def had_instances(self, user_id: UUID, *, but: UUID) -> bool:
        """Whether the user had an instance before ``but`` (destroyed or failed ones count)."""
        query = select(Instance.id).where(Instance.user_id == user_id, Instance.id != but)
        return (await self.session.exec(query.limit(1))).first() is not None

    async def set_slot(self, instance_id: UUID, slot_id: UUID) -> None:
        statement = update(INSTANCES).where(INSTANCES.c.id == instance_id).values(slot_id=slot_id)
        await (await self.session.connection()).execute(statement)

    async def count_live(self) -> dict[tuple[InstanceStatus, str | None], int]:
        """Live instances by (status, condition): one aggregate over the live rows' index."""
        query = (
            select(col(Instance.status), col(Instance.condition), func.count())
            .where(col(Instance.status).in_(LIVE_STATUSES))
            .group_by(col(Instance.status), col(Instance.condition))
        )
        return {(row[0], row[1]): row[2] for row in (await self.session.exec(query)).all()}

    async def insert_unless_conflict(
        self, instance: Instance, *, unless_processed: tuple[UUID, str]
    ) -> bool:
        """Insert ``instance`` unless its id exists, its user already has a live instance (the
        partial unique index), or the inbox says the command was applied: one statement, no
        error, no aborted transaction."""
        connection = await self.session.connection()
        statement = _INSERT_UNLESS_CONFLICT[connection.dialect.name]
        values = {column.key: getattr(instance, column.key) for column in INSTANCES.c}
        values["inbox_message_id"], values["inbox_consumer"] = unless_processed
        inserted = await connection.execute(statement, values)
        return inserted.first() is not None

    async def update_if_pending(
        self, instance_id: UUID, command_id: UUID, **values: Any
    ) -> Instance | None:
        """Apply ``values`` only while ``command_id`` is the instance's pending command (a
        compare-and-set in one statement); the updated row, or None when it was not pending."""
        connection = await self.session.connection()
        statement = _update_if_pending(tuple(sorted(values)))
        parameters = {**values, "match_id": instance_id, "match_command": command_id}
        row = (await connection.execute(statement, parameters)).first()
        return Instance.model_construct(**row._mapping) if row is not None else None

    async def checkpoint(self, instance_id: UUID) -> CheckpointRecord | None:
        """The checkpoint taken before the instance's latest stop."""
        return await self.session.get(CheckpointRecord, instance_id)


class EntitlementRepository:
    """The provisioner's copy of billing's verdict per user."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: UUID, *, for_update: bool = False) -> Entitlement | None:
        query = select(Entitlement).where(Entitlement.user_id == user_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.exec(query)).first()

    async def user_of(self, instance_id: UUID) -> UUID | None:
        query = select(Instance.user_id).where(Instance.id == instance_id)
        return (await self.session.exec(query)).first()
