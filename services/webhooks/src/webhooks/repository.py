"""The webhooks service's SQL: endpoints by owner, deliveries made, claimed, finished, listed."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, update
from sqlmodel import col, select

from claudecloud_common.contracts.webhooks import DeliveryStatus, EndpointStatus
from claudecloud_common.db import AsyncSession

from .models import Delivery, Endpoint

PENDING = DeliveryStatus.PENDING.value


class EndpointRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, endpoint: Endpoint) -> None:
        self.session.add(endpoint)

    async def owned(
        self, user_id: UUID, endpoint_id: UUID, *, lock: bool = False
    ) -> Endpoint | None:
        """The endpoint if it is ``user_id``'s (someone else's looks missing)."""
        query = select(Endpoint).where(
            col(Endpoint.id) == endpoint_id, col(Endpoint.user_id) == user_id
        )
        if lock:
            query = query.with_for_update()
        return (await self.session.exec(query)).first()

    async def get(self, endpoint_id: UUID) -> Endpoint | None:
        return await self.session.get(Endpoint, endpoint_id)

    async def of_user(self, user_id: UUID) -> list[Endpoint]:
        query = (
            select(Endpoint)
            .where(col(Endpoint.user_id) == user_id)
            .order_by(col(Endpoint.created_at), col(Endpoint.id))
        )
        return list((await self.session.exec(query)).all())

    async def active_of_user(self, user_id: UUID) -> list[Endpoint]:
        return [e for e in await self.of_user(user_id) if e.status == EndpointStatus.ACTIVE.value]

    async def count_of_user(self, user_id: UUID) -> int:
        query = select(func.count()).select_from(Endpoint).where(col(Endpoint.user_id) == user_id)
        return (await self.session.exec(query)).one()

    async def delete(self, endpoint: Endpoint) -> None:
        await self.session.exec(delete(Delivery).where(col(Delivery.endpoint_id) == endpoint.id))
        await self.session.delete(endpoint)


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, delivery: Delivery) -> None:
        self.session.add(delivery)

    async def exists(self, endpoint_id: UUID, event_id: UUID) -> bool:
        query = select(Delivery.id).where(
            col(Delivery.endpoint_id) == endpoint_id, col(Delivery.event_id) == event_id
        )
        return (await self.session.exec(query)).first() is not None

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        """Up to ``limit`` deliveries due now, held until ``lease_until`` (another replica
        skips them; one that dies holding them frees them when the lease ends)."""
        query = (
            select(Delivery)
            .where(col(Delivery.status) == PENDING, col(Delivery.next_attempt_at) <= now)
            .order_by(col(Delivery.next_attempt_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        due = list((await self.session.exec(query)).all())
        for delivery in due:
            delivery.next_attempt_at = lease_until
            self.session.add(delivery)
        return due

    async def locked(self, delivery_id: UUID) -> Delivery | None:
        query = (
            select(Delivery)
            .where(col(Delivery.id) == delivery_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(query)).first()

    async def page(
        self, endpoint_id: UUID, *, before: datetime | None, limit: int
    ) -> list[Delivery]:
        """Newest first, up to ``limit + 1`` (the extra one says there is more)."""
        query = select(Delivery).where(col(Delivery.endpoint_id) == endpoint_id)
        if before is not None:
            query = query.where(col(Delivery.created_at) < before)
        query = query.order_by(col(Delivery.created_at).desc(), col(Delivery.id)).limit(limit + 1)
        return list((await self.session.exec(query)).all())

    async def give_up_pending(self, endpoint_id: UUID, reason: str) -> int:
        """Every delivery of the endpoint still pending is failed with ``reason``."""
        statement = (
            update(Delivery)
            .where(col(Delivery.endpoint_id) == endpoint_id, col(Delivery.status) == PENDING)
            .values(status=DeliveryStatus.FAILED.value, next_attempt_at=None, last_error=reason)
        )
        result: Any = await self.session.exec(statement)
        return int(result.rowcount or 0)

    async def overdue(self, before: datetime, *, samples: int) -> tuple[int, list[UUID]]:
        """Pending deliveries that were due before ``before``: how many, and a few ids."""
        due = (col(Delivery.status) == PENDING, col(Delivery.next_attempt_at) < before)
        count = (await self.session.exec(select(func.count()).where(*due))).one()
        ids = (await self.session.exec(select(Delivery.id).where(*due).limit(samples))).all()
        return int(count), list(ids)

    async def forget_finished(self, before: datetime) -> int:
        """Delivered and failed deliveries made before ``before`` leave the log."""
        statement = delete(Delivery).where(
            col(Delivery.status) != PENDING, col(Delivery.created_at) < before
        )
        result: Any = await self.session.exec(statement)
        return int(result.rowcount or 0)
