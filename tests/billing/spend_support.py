"""Billing's spend rules on a SQLite file: a subscription and its periods written directly, then
samples, Claude's reports and budgets through the services as the bus handlers drive them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select

from billing.app import MIGRATIONS
from billing.models import BillingPeriod, Subscription
from billing.rules import Seen
from billing.service import BillingService
from billing.settings import DEFAULT_PLANS, BillingSettings
from billing.spend import SpendService
from claudecloud_common.contracts.activity import UsageKind, UsageSample
from claudecloud_common.contracts.billing import SubscriptionStatus
from claudecloud_common.db import Database
from claudecloud_common.migrations import upgrade_to_head
from claudecloud_common.outbox import OutboxMessage

PERIOD = timedelta(days=30)
START = datetime(2026, 11, 1, tzinfo=UTC)

ONE_HOUR_PLANS = {
    name: plan.model_copy(update={"included_hours": 1.0}) for name, plan in DEFAULT_PLANS.items()
}


def settings_for(path: Path, **overrides: Any) -> BillingSettings:
    values: dict[str, Any] = {
        "data_dir": path,
        "database_url": f"sqlite+aiosqlite:///{path / 'billing.db'}",
        "billing_enabled": True,
        "stripe_secret_key": "sk_test_spend",
        "stripe_webhook_secret": "whsec_spend",
        "plans": ONE_HOUR_PLANS,
    }
    return BillingSettings(**(values | overrides))


async def open_database(settings: BillingSettings) -> Database:
    await upgrade_to_head(settings.resolved_database_url, MIGRATIONS, "alembic_version_billing")
    return Database.for_service(settings)


class Ledger:
    """One database; each user gets their own subscription and periods."""

    def __init__(self, db: Database, settings: BillingSettings) -> None:
        self.db = db
        self.settings = settings

    async def subscriber(
        self, *, periods: int = 1, plan: str = "starter", start: datetime = START
    ) -> uuid.UUID:
        """A new user with an active subscription whose ``periods`` periods are known (the
        current one is the last)."""
        user = uuid.uuid4()
        last = start + PERIOD * (periods - 1)
        async with self.db.transaction() as session:
            session.add(
                Subscription(
                    id=f"sub_{user.hex[:12]}",
                    user_id=user,
                    stripe_customer_id=f"cus_{user.hex[:12]}",
                    plan=plan,
                    status=SubscriptionStatus.ACTIVE,
                    current_period_start=last,
                    current_period_end=last + PERIOD,
                )
            )
            for n in range(periods):
                session.add(
                    BillingPeriod(
                        user_id=user,
                        period_start=start + PERIOD * n,
                        period_end=start + PERIOD * (n + 1),
                        subscription_id=f"sub_{user.hex[:12]}",
                        plan=plan,
                    )
                )
        return user

    async def add(self, sample: UsageSample) -> None:
        async with self.db.transaction(notify=False) as session:
            await BillingService(session, self.settings).add_usage(sample)
            seen = Seen(sample.instance_id, running=sample.kind is UsageKind.RUNNING)
            await SpendService(session, self.settings).evaluate_if_budgeted(sample.user_id, seen)

    async def period_totals(self, user: uuid.UUID) -> dict[datetime | None, tuple[float, int]]:
        """Billed seconds and overage seconds per period, as the ledger holds them."""
        from billing.models import UsageEntry

        async with self.db.read() as session:
            rows = (await session.exec(select(UsageEntry).where(UsageEntry.user_id == user))).all()
        totals: dict[datetime | None, tuple[float, int]] = {}
        for row in rows:
            billed, over = totals.get(row.period_start, (0.0, 0))
            totals[row.period_start] = (billed + row.billed_seconds, over + row.overage_seconds)
        return totals

    async def outbox(self, *about: uuid.UUID) -> list[dict[str, Any]]:
        """What is waiting in the outbox about these users or instances, oldest first."""
        async with self.db.read() as session:
            rows = (await session.exec(select(OutboxMessage))).all()
        found = [{"subject": r.subject, **json.loads(r.payload)} for r in rows]
        ids = {str(i) for i in about}
        return [m for m in found if m.get("user_id") in ids or m.get("instance_id") in ids]

    def spend(self, session: Any) -> SpendService:
        return SpendService(session, self.settings)


def sample(
    user: uuid.UUID,
    instance: uuid.UUID,
    seconds: float,
    at: datetime,
    *,
    sample_id: uuid.UUID | None = None,
    kind: UsageKind = UsageKind.RUNNING,
) -> UsageSample:
    return UsageSample(
        user_id=user,
        instance_id=instance,
        seconds=seconds,
        sample_id=sample_id or uuid.uuid4(),
        kind=kind,
        occurred_at=at,
    )
