"""SQL for instances. Only the provisioner reads these tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlmodel import col, select

from claudecloud_common.contracts.instances import LIVE_STATUSES, InstanceStatus
from claudecloud_common.db import AsyncSession

from .models import Instance

TRANSITIONAL = (
    InstanceStatus.PROVISIONING,
    InstanceStatus.PAUSING,
    InstanceStatus.WAKING,
    InstanceStatus.DESTROYING,
)


class InstanceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, instance_id: UUID, *, for_update: bool = False) -> Instance | None:
        query = select(Instance).where(Instance.id == instance_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.exec(query)).first()

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

    async def with_status(self, status: InstanceStatus) -> Sequence[Instance]:
        query = select(Instance).where(Instance.status == status)
        return (await self.session.exec(query)).all()

    async def live_ids(self, ids: set[UUID]) -> set[UUID]:
        """Which of ``ids`` name a live instance."""
        if not ids:
            return set()
        query = select(col(Instance.id)).where(
            col(Instance.id).in_(ids), col(Instance.status).in_(LIVE_STATUSES)
        )
        return set((await self.session.exec(query)).all())

    def add(self, instance: Instance) -> None:
        self.session.add(instance)
