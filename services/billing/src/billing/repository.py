"""SQL for billing. Only the billing service reads these tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Table, delete, func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import SQLModel, col, select

from claudecloud_common.contracts.activity import UsageKind
from claudecloud_common.contracts.billing import SubscriptionStatus
from claudecloud_common.db import AsyncSession

from .models import (
    BillingPeriod,
    Budget,
    BudgetAlertSent,
    BudgetPause,
    ClaudeSpend,
    Customer,
    StripeEvent,
    Subscription,
    UsageDayTotal,
    UsageEntry,
)

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

    async def unprocessed_events(
        self, received_before: datetime, due_by: datetime | None, limit: int
    ) -> Sequence[str]:
        """Events not handled nor parked, received before ``received_before`` (later ones are
        in flight) and, unless ``due_by`` is None, whose wait after a failed try ends by then."""
        query = select(col(StripeEvent.id)).where(
            col(StripeEvent.processed_at).is_(None),
            col(StripeEvent.parked_at).is_(None),
            col(StripeEvent.received_at) <= received_before,
        )
        if due_by is not None:
            waited = col(StripeEvent.next_attempt_at)
            query = query.where(or_(waited.is_(None), waited <= due_by))
        query = query.order_by(col(StripeEvent.created)).limit(limit)
        return (await self.session.exec(query)).all()

    async def parked_events(self) -> Sequence[str]:
        """Events billing gave up on and nothing handled since, the longest parked first."""
        query = (
            select(col(StripeEvent.id))
            .where(col(StripeEvent.parked_at).is_not(None), col(StripeEvent.processed_at).is_(None))
            .order_by(col(StripeEvent.parked_at))
        )
        return (await self.session.exec(query)).all()

    # Usage

    async def usage(self, sample_id: UUID) -> UsageEntry | None:
        return await self.session.get(UsageEntry, sample_id)

    async def period_usage(
        self, user_id: UUID, period_start: datetime | None
    ) -> tuple[dict[UsageKind, float], float]:
        """The user's seconds in the period by kind, and what they count against the plan."""
        kind, billed = col(UsageEntry.kind), func.coalesce(func.sum(UsageEntry.billed_seconds), 0)
        query = (
            select(kind, func.sum(UsageEntry.seconds), billed)
            .where(UsageEntry.user_id == user_id)
            .group_by(kind)
        )
        if period_start is None:
            query = query.where(col(UsageEntry.period_start).is_(None))
        else:
            query = query.where(UsageEntry.period_start == period_start)
        rows = (await self.session.exec(query)).all()
        return {UsageKind(k): float(s) for k, s, _ in rows}, sum(float(b) for _, _, b in rows)

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

    async def latest_usage(self, user_id: UUID) -> UsageEntry | None:
        """The user's most recently observed usage (a user has one live instance)."""
        query = (
            select(UsageEntry)
            .where(UsageEntry.user_id == user_id)
            .order_by(col(UsageEntry.day).desc(), col(UsageEntry.recorded_at).desc())
            .limit(1)
        )
        return (await self.session.exec(query)).first()

    async def daily_usage(
        self, user_id: UUID, first: date, last: date
    ) -> Sequence[tuple[date, UsageKind, float, float]]:
        """Seconds and billed seconds per UTC day and kind, ``first`` to ``last`` inclusive."""
        day = col(UsageDayTotal.day)
        query = select(
            day,
            col(UsageDayTotal.kind),
            col(UsageDayTotal.seconds),
            col(UsageDayTotal.billed_seconds),
        ).where(UsageDayTotal.user_id == user_id, day >= first, day <= last)
        return (await self.session.exec(query)).all()

    async def add_to_day(self, entry: UsageEntry) -> None:
        """Add a new ledger entry to its day's totals (in the transaction that inserted it)."""
        assert entry.day is not None
        await self.insert_new(UsageDayTotal(user_id=entry.user_id, day=entry.day, kind=entry.kind))
        total = UsageDayTotal
        await self.session.exec(
            update(total)
            .where(
                col(total.user_id) == entry.user_id,
                col(total.day) == entry.day,
                col(total.kind) == entry.kind,
            )
            .values(
                seconds=col(total.seconds) + entry.seconds,
                billed_seconds=col(total.billed_seconds) + entry.billed_seconds,
            )
        )

    # Periods

    async def period_at(self, user_id: UUID, at: datetime) -> BillingPeriod | None:
        """The user's period that had begun by ``at`` (the latest such)."""
        query = (
            select(BillingPeriod)
            .where(BillingPeriod.user_id == user_id, col(BillingPeriod.period_start) <= at)
            .order_by(col(BillingPeriod.period_start).desc())
            .limit(1)
        )
        return (await self.session.exec(query)).first()

    # Claude's spend

    async def claude_day(self, instance_id: UUID, day: date, source: str) -> ClaudeSpend | None:
        query = (
            select(ClaudeSpend)
            .where(
                ClaudeSpend.instance_id == instance_id,
                ClaudeSpend.day == day,
                col(ClaudeSpend.source) == source,
            )
            .with_for_update()
        )
        return (await self.session.exec(query)).first()

    async def claude_daily(
        self, user_id: UUID, first: date, last: date
    ) -> Sequence[tuple[date, float, int, int]]:
        day = col(ClaudeSpend.day)
        query = (
            select(
                day,
                func.sum(ClaudeSpend.cost_usd),
                func.sum(ClaudeSpend.input_tokens),
                func.sum(ClaudeSpend.output_tokens),
            )
            .where(ClaudeSpend.user_id == user_id, day >= first, day <= last)
            .group_by(day)
        )
        return (await self.session.exec(query)).all()

    async def platform_claude_usd(self, user_id: UUID, first: date, last: date) -> float:
        """Claude's cost on days ``first`` to ``last`` that the platform's key paid for."""
        query = select(func.coalesce(func.sum(ClaudeSpend.cost_usd), 0.0)).where(
            ClaudeSpend.user_id == user_id,
            col(ClaudeSpend.day) >= first,
            col(ClaudeSpend.day) <= last,
            col(ClaudeSpend.stripe_customer_id).is_not(None),
        )
        return float((await self.session.exec(query)).one())

    async def unmetered_claude(self, limit: int) -> Sequence[ClaudeSpend]:
        cents = func.floor(ClaudeSpend.cost_usd * 100)
        query = (
            select(ClaudeSpend)
            .where(col(ClaudeSpend.stripe_customer_id).is_not(None))
            .where(cents > ClaudeSpend.metered_cents)
            .order_by(col(ClaudeSpend.updated_at))
            .limit(limit)
        )
        return (await self.session.exec(query)).all()

    async def claude_metered(self, row: ClaudeSpend, cents: int) -> None:
        await self.session.exec(
            update(ClaudeSpend)
            .where(
                col(ClaudeSpend.instance_id) == row.instance_id,
                col(ClaudeSpend.day) == row.day,
                col(ClaudeSpend.source) == row.source,
                col(ClaudeSpend.metered_cents) < cents,
            )
            .values(metered_cents=cents)
        )

    # Budgets

    async def budget(self, user_id: UUID, *, for_update: bool = False) -> Budget | None:
        query = select(Budget).where(Budget.user_id == user_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.exec(query)).first()

    async def alerts_sent(self, user_id: UUID, period_start: datetime) -> list[int]:
        query = (
            select(col(BudgetAlertSent.threshold))
            .where(BudgetAlertSent.user_id == user_id, BudgetAlertSent.period_start == period_start)
            .order_by(col(BudgetAlertSent.threshold))
        )
        return list((await self.session.exec(query)).all())

    async def budget_pauses(self, user_id: UUID) -> Sequence[BudgetPause]:
        query = select(BudgetPause).where(BudgetPause.user_id == user_id)
        return (await self.session.exec(query)).all()

    async def forget_budget_pauses(self, user_id: UUID) -> None:
        await self.session.exec(delete(BudgetPause).where(col(BudgetPause.user_id) == user_id))

    async def delete_budget(self, user_id: UUID) -> None:
        await self.session.exec(delete(Budget).where(col(Budget.user_id) == user_id))

    async def reached_budget_users(self) -> Sequence[UUID]:
        query = select(col(Budget.user_id)).where(col(Budget.reached_period_start).is_not(None))
        return (await self.session.exec(query)).all()
