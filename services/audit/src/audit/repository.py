"""The audit service's SQL: chain heads (locked to append), records (inserted, paged, walked,
and deleted from a chain's oldest end by retention)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from claudecloud_common.contracts.audit import ListAudit
from claudecloud_common.db import AsyncSession

from .models import PLATFORM_CHAIN, AuditChain, AuditRecord


class ChainRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self, chain: str) -> AuditChain:
        """The chain's head, made if it has none, locked until the transaction ends: appends to
        one chain from any replica go one after the other."""
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await self.session.exec(
            insert(AuditChain).values(chain=chain).on_conflict_do_nothing(index_elements=["chain"])
        )
        query = (
            select(AuditChain)
            .where(col(AuditChain.chain) == chain)
            .with_for_update()
            .execution_options(populate_existing=True)  # as locked, not as read before
        )
        return (await self.session.exec(query)).one()

    async def get(self, chain: str) -> AuditChain | None:
        return await self.session.get(AuditChain, chain)

    async def names(self, *, after: str | None, limit: int) -> list[str]:
        """Chains in name order, a page at a time."""
        query = select(AuditChain.chain).order_by(col(AuditChain.chain)).limit(limit)
        if after is not None:
            query = query.where(col(AuditChain.chain) > after)
        return list((await self.session.exec(query)).all())

    async def count(self) -> int:
        return (await self.session.exec(select(func.count()).select_from(AuditChain))).one()


class RecordRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, record: AuditRecord) -> None:
        self.session.add(record)

    async def page(self, query: ListAudit, chain: str | None) -> list[AuditRecord]:
        """Up to ``query.limit + 1`` records, newest first (the extra one says there is more)."""
        statement = select(AuditRecord)
        if chain is not None:
            statement = statement.where(col(AuditRecord.chain) == chain)
        statement = _filtered(statement, query)
        statement = statement.order_by(col(AuditRecord.position).desc()).limit(query.limit + 1)
        return list((await self.session.exec(statement)).all())

    async def walk(self, chain: str, *, batch: int) -> AsyncIterator[Sequence[AuditRecord]]:
        """The chain's records in ``seq`` order, ``batch`` at a time."""
        after = -1
        while True:
            statement = (
                select(AuditRecord)
                .where(col(AuditRecord.chain) == chain, col(AuditRecord.seq) > after)
                .order_by(col(AuditRecord.seq))
                .limit(batch)
            )
            rows = (await self.session.exec(statement)).all()
            if not rows:
                return
            yield rows
            after = rows[-1].seq

    async def expired(self, cutoff: datetime, *, limit: int) -> list[tuple[str, int]]:
        """Chains with records stored before ``cutoff``, each with the newest such record's
        ``seq``: everything up to it goes."""
        statement = (
            select(AuditRecord.chain, func.max(AuditRecord.seq))
            .where(col(AuditRecord.recorded_at) < cutoff)
            .group_by(col(AuditRecord.chain))
            .order_by(col(AuditRecord.chain))
            .limit(limit)
        )
        return [(chain, int(seq)) for chain, seq in (await self.session.exec(statement)).all()]

    async def at(self, chain: str, seq: int) -> AuditRecord | None:
        statement = select(AuditRecord).where(
            col(AuditRecord.chain) == chain, col(AuditRecord.seq) == seq
        )
        return (await self.session.exec(statement)).first()

    async def delete_through(self, chain: str, seq: int) -> int:
        """Delete the chain's records up to ``seq``; how many went."""
        statement = delete(AuditRecord).where(
            col(AuditRecord.chain) == chain, col(AuditRecord.seq) <= seq
        )
        result: Any = await self.session.exec(statement)
        return int(result.rowcount or 0)


def _filtered(statement: SelectOfScalar[AuditRecord], query: ListAudit) -> Any:
    if query.kinds:
        statement = statement.where(col(AuditRecord.kind).in_([k.value for k in query.kinds]))
    if query.since is not None:
        statement = statement.where(col(AuditRecord.occurred_at) >= query.since)
    if query.until is not None:
        statement = statement.where(col(AuditRecord.occurred_at) < query.until)
    if query.before is not None:
        statement = statement.where(col(AuditRecord.position) < query.before)
    return statement


def chain_of(user_id: object | None) -> str:
    """The chain a user's records go on (``platform`` for none)."""
    return str(user_id) if user_id is not None else PLATFORM_CHAIN
