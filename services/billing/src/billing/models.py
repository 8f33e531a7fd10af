"""Billing's tables."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Enum, LargeBinary
from sqlmodel import Field, SQLModel

from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.billing import SubscriptionStatus
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
    created: int
    """Stripe's own timestamp of the event (seconds)."""
    payload: bytes = Field(sa_type=LargeBinary)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=2000)


class UsageEntry(SQLModel, table=True):
    """One usage sample in the ledger (once per sample id), with what it adds to the meter."""

    __tablename__ = "usage_ledger"

    sample_id: UUID = Field(primary_key=True)
    user_id: UUID = Field(index=True)
    instance_id: UUID
    seconds: float
    period_start: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    """The subscription period it counts in (none without a subscription)."""
    stripe_customer_id: str | None = Field(default=None, max_length=100)
    overage_seconds: int = 0
    """Seconds of this sample beyond the plan's included hours: reported to the meter."""
    reported_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
