"""Billing's tables."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from sqlalchemy import BigInteger, Enum, Index, LargeBinary
from sqlmodel import Field, SQLModel

from claudecloud_common.contracts.activity import UsageKind
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.billing import SubscriptionStatus
from claudecloud_common.contracts.spend import ClaudeSource
from claudecloud_common.db import UTCDateTime


class Customer(SQLModel, table=True):
    """A user's Stripe customer: one per user, made at their first checkout."""

    __tablename__ = "customers"

    user_id: UUID = Field(primary_key=True)
    stripe_customer_id: str = Field(unique=True, max_length=100)
    email: str | None = Field(default=None, max_length=320)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Subscription(SQLModel, table=True):
    """A Stripe subscription as last synced. ``canceled`` is final: nothing moves it back."""

    __tablename__ = "subscriptions"

    id: str = Field(primary_key=True, max_length=100)
    user_id: UUID = Field(index=True)
    stripe_customer_id: str = Field(max_length=100)
    plan: str = Field(max_length=50)
    status: SubscriptionStatus = Field(
        sa_type=Enum(
            SubscriptionStatus,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    current_period_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    current_period_end: datetime | None = Field(default=None, sa_type=UTCDateTime)
    past_due_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    grace_ended: bool = False
    """The end of the grace period after a failed payment was announced (not entitled)."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StripeEvent(SQLModel, table=True):
    """Every verified webhook, stored by Stripe's event id before anything else happens, so a
    duplicate is recognised and one stored but not handled (a crash) is handled later."""

    __tablename__ = "stripe_events"

    id: str = Field(primary_key=True, max_length=100)
    type: str = Field(max_length=100)
    created: int = Field(sa_type=BigInteger)
    """Stripe's own timestamp of the event (seconds)."""
    payload: bytes = Field(sa_type=LargeBinary)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    attempts: int = 0
    """Tries at acting on it that failed (a success counts too)."""
    last_error: str | None = Field(default=None, max_length=2000)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """After a failed try: when the sweeper tries again (the wait doubles with each try)."""
    parked_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    """When billing gave up on it (its tries used up, or it cannot be used): the sweeper leaves
    it, the check counts it, and only a new delivery from Stripe tries it again."""


class UsageEntry(SQLModel, table=True):
    """One usage sample in the ledger (once per sample id), with what it adds to the meter.
    Running and frozen time are kept apart (``kind``); ``billed_seconds`` is what it counts
    against the plan (frozen time weighted by the plan's ``frozen_hour_weight`` when recorded)."""

    __tablename__ = "usage_ledger"
    __table_args__ = (Index("ix_usage_ledger_user_day", "user_id", "day"),)

    sample_id: UUID = Field(primary_key=True)
    user_id: UUID = Field(index=True)
    instance_id: UUID
    seconds: float
    kind: UsageKind = Field(
        default=UsageKind.RUNNING,
        sa_type=Enum(
            UsageKind, native_enum=False, length=10, values_callable=lambda e: [m.value for m in e]
        ),
    )
    billed_seconds: float = 0.0
    period_start: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    """The subscription period it counts in (none without a subscription)."""
    stripe_customer_id: str | None = Field(default=None, max_length=100)
    overage_seconds: int = 0
    """Seconds of this sample beyond the plan's included hours: reported to the meter."""
    reported_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    observed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When activity observed it (the sample's ``occurred_at``): decides its day and period,
    however late or often it is delivered (None: entries from before it was kept)."""
    day: date | None = None
    """The UTC day of ``observed_at`` (else of ``recorded_at``): the usage series' bucket."""


class UsageDayTotal(SQLModel, table=True):
    """A user's seconds per UTC day and kind, added to in the transaction that adds a sample to
    the ledger (once per sample): the usage series reads these, not a year of samples."""

    __tablename__ = "usage_days"

    user_id: UUID = Field(primary_key=True)
    day: date = Field(primary_key=True)
    kind: UsageKind = Field(
        primary_key=True,
        sa_type=Enum(
            UsageKind, native_enum=False, length=10, values_callable=lambda e: [m.value for m in e]
        ),
    )
    seconds: float = 0.0
    billed_seconds: float = 0.0


class BillingPeriod(SQLModel, table=True):
    """Every period a user's subscription has had, as synced: a late sample counts in the period
    it was observed in, not the one current when it arrived."""

    __tablename__ = "billing_periods"

    user_id: UUID = Field(primary_key=True)
    period_start: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    period_end: datetime | None = Field(default=None, sa_type=UTCDateTime)
    subscription_id: str = Field(max_length=100)
    plan: str = Field(max_length=50)


class ClaudeSpend(SQLModel, table=True):
    """Claude's running totals for one instance, UTC day and source: a report replaces them only
    where larger, so redelivered and reordered reports count once and totals never decrease."""

    __tablename__ = "claude_spend"
    __table_args__ = (Index("ix_claude_spend_user_day", "user_id", "day"),)

    instance_id: UUID = Field(primary_key=True)
    day: date = Field(primary_key=True)
    source: ClaudeSource = Field(
        primary_key=True,
        sa_type=Enum(
            ClaudeSource,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        ),
    )
    user_id: UUID
    cost_usd: float = 0.0
    input_tokens: int = Field(default=0, sa_type=BigInteger)
    output_tokens: int = Field(default=0, sa_type=BigInteger)
    cache_read_tokens: int = Field(default=0, sa_type=BigInteger)
    cache_write_tokens: int = Field(default=0, sa_type=BigInteger)
    turns: int = 0
    metered_cents: int = 0
    """Of ``cost_usd``, the cents already sent to the Stripe meter (plans that provide the key)."""
    stripe_customer_id: str | None = Field(default=None, max_length=100)
    """Set while the plan provides the key: whose meter the growth goes to (None: not metered)."""
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Budget(SQLModel, table=True):
    """A user's monthly budget over overage and platform-provided Claude spend."""

    __tablename__ = "budgets"

    user_id: UUID = Field(primary_key=True)
    monthly_limit_usd: float
    hard_stop: bool = False
    reached_period_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """The period in which the hard stop took effect (None: not reached); create, wake and chat
    are refused while it is the current one."""
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class BudgetAlertSent(SQLModel, table=True):
    """One alert per user, period and threshold: inserted (or nothing) in the transaction that
    writes the alert to the outbox, so replicas, restarts and redeliveries send it once."""

    __tablename__ = "budget_alerts"

    user_id: UUID = Field(primary_key=True)
    period_start: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    threshold: int = Field(primary_key=True)
    """75, 90 or 100 (:class:`BudgetThreshold`)."""
    spent_usd: float
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class BudgetPause(SQLModel, table=True):
    """An instance the hard stop paused: lifting the budget wakes these, and only these."""

    __tablename__ = "budget_pauses"

    user_id: UUID = Field(primary_key=True)
    instance_id: UUID = Field(primary_key=True)
    paused_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
