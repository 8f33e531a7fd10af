"""SQL for the mesh resources. Only the netbird service reads these tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete
from sqlmodel import col, select

from claudecloud_common.db import AsyncSession

from .models import Mesh, MeshStatus, SetupKeyRecord


class MeshRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, instance_id: UUID, *, for_update: bool = False) -> Mesh | None:
        query = select(Mesh).where(Mesh.instance_id == instance_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.exec(query)).first()

    async def not_torn_down(self) -> Sequence[Mesh]:
        """Every mesh that may still hold resources in Netbird (the reconciliation check)."""
        query = select(Mesh).where(Mesh.status != MeshStatus.TORN_DOWN)
        return (await self.session.exec(query)).all()

    def add(self, mesh: Mesh) -> None:
        self.session.add(mesh)

    def add_key(self, key: SetupKeyRecord) -> None:
        self.session.add(key)

    async def expired_keys(self, now: datetime, limit: int = 500) -> Sequence[SetupKeyRecord]:
        query = (
            select(SetupKeyRecord)
            .where(col(SetupKeyRecord.expires_at) <= now)
            .order_by(col(SetupKeyRecord.expires_at))
            .limit(limit)
        )
        return (await self.session.exec(query)).all()

    async def keys_of(self, instance_id: UUID) -> Sequence[SetupKeyRecord]:
        query = select(SetupKeyRecord).where(SetupKeyRecord.instance_id == instance_id)
        return (await self.session.exec(query)).all()

    async def forget_keys(self, key_ids: Sequence[str]) -> None:
        if key_ids:
            statement = delete(SetupKeyRecord).where(col(SetupKeyRecord.key_id).in_(key_ids))
            await self.session.exec(statement)

    async def forget_keys_of(self, instance_id: UUID) -> None:
        statement = delete(SetupKeyRecord).where(col(SetupKeyRecord.instance_id) == instance_id)
        await self.session.exec(statement)
