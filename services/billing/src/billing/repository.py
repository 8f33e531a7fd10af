"""SQL for billing. Only the billing service reads these tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Table, func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import SQLModel, col, select

from claudecloud_common.contracts.billing import SubscriptionStatus
from claudecloud_common.db import AsyncSession

from .models import Customer, StripeEvent, Subscription, UsageEntry

_INSERTS = {"postgresql": pg_insert, "sqlite": sqlite_insert}


class BillingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert_new(self, row: SQLModel) -> bool:
        """Insert ``row`` unless its key exists (one statement, no aborted transaction)."""
        connection = await self.session.connection()
        table: Table = type(row).__table__  # type: ignore[attr-defined]
        values: dict[str, Any] = {c.key: getattr(row, c.key) for c in table.c}
        statement = _INSERTS[connection.dialect.name](table).values(values)
        inserted = await connection.execute(statement.on_conflict_do_nothing())  # type: ignore[attr-defined]
        return bool(inserted.rowcount)

    # Customers

    async def customer(self, user_id: UUID) -> Customer | None:
        return await self.session.get(Customer, user_id)

    async def customer_by_stripe_id(self, stripe_customer_id: str) -> Customer | None:
        query = select(Customer).where(Customer.stripe_customer_id == stripe_customer_id)
        return (await self.session.exec(query)).first()

    # Subscriptions

    async def subscription(self, subscription_id: str) -> Subscription | None:
        query = select(Subscription).where(Subscription.id == subscription_id).with_for_update()
        return (await self.session.exec(query)).first()

    async def current_subscription(
        self, user_id: UUID, *, for_update: bool = False
    ) -> Subscription | None:
        """The user's subscription that counts: the newest one not canceled, else the newest."""
        query = (
            select(Subscription)
            .where(Subscription.user_id == user_id)
            .order_by(
                (col(Subscription.status) == SubscriptionStatus.CANCELED.value).asc(),
                col(Subscription.created_at).desc(),
            )
            .limit(1)
        )
        if for_update:
            query = query.with_for_update()
        return (await self.session.exec(query)).first()

    async def subscriptions(self) -> Sequence[Subscription]:
        """Every subscription (the reconciliation check picks each user's current one)."""
        return (await self.session.exec(select(Subscription))).all()

    async def grace_ending(self, past_due_before: datetime) -> Sequence[Subscription]:
        query = select(Subscription).where(
            Subscription.status == SubscriptionStatus.PAST_DUE,
            col(Subscription.grace_ended).is_(False),
            col(Subscription.past_due_since) <= past_due_before,
        )
        return (await self.session.exec(query.with_for_update())).all()

    # Stripe events

    async def event(self, event_id: str, *, for_update: bool = False) -> StripeEvent | None:
        query = select(StripeEvent).where(StripeEvent.id == event_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.exec(query)).first()

    async def unprocessed_events(self, received_before: datetime, limit: int) -> Sequence[str]:
        query = (
            select(col(StripeEvent.id))
            .where(
                col(StripeEvent.processed_at).is_(None),
                col(StripeEvent.received_at) <= received_before,
            )
            .order_by(col(StripeEvent.created))
            .limit(limit)
        )
        return (await self.session.exec(query)).all()

    async def event_failed(self, event_id: str, error: str) -> None:
        await self.session.exec(
            update(StripeEvent)
            .where(col(StripeEvent.id) == event_id)
            .values(attempts=StripeEvent.attempts + 1, last_error=error[:2000])
        )

    # Usage

    async def usage(self, sample_id: UUID) -> UsageEntry | None:
        return await self.session.get(UsageEntry, sample_id)

    async def period_seconds(self, user_id: UUID, period_start: datetime | None) -> float:
        query = select(func.coalesce(func.sum(UsageEntry.seconds), 0.0)).where(
            UsageEntry.user_id == user_id
        )
        if period_start is None:
            query = query.where(col(UsageEntry.period_start).is_(None))
        else:
            query = query.where(UsageEntry.period_start == period_start)
        return float((await self.session.exec(query)).one())

    async def unreported(self, limit: int) -> Sequence[UsageEntry]:
        query = (
            select(UsageEntry)
            .where(UsageEntry.overage_seconds > 0, col(UsageEntry.reported_at).is_(None))
            .order_by(col(UsageEntry.recorded_at))
            .limit(limit)
        )
        return (await self.session.exec(query)).all()

    async def mark_reported(self, sample_id: UUID, at: datetime) -> None:
        await self.session.exec(
            update(UsageEntry).where(col(UsageEntry.sample_id) == sample_id).values(reported_at=at)
        )
