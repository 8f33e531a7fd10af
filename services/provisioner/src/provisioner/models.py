"""The provisioner's tables."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Enum, Index, text
from sqlmodel import Field, SQLModel

from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.instances import (
    LIVE_STATUSES,
    InstanceStatus,
    InstanceView,
    PauseReason,
)
from claudecloud_common.db import UTCDateTime

_LIVE = ", ".join(sorted(f"'{s.value}'" for s in LIVE_STATUSES))


class Instance(SQLModel, table=True):
    """One user's workstation. At most one live row per user, enforced by a partial index."""

    __tablename__ = "instances"
    __table_args__ = (
        Index(
            "uq_instances_one_live_per_user",
            "user_id",
            unique=True,
            sqlite_where=text(f"status IN ({_LIVE})"),
            postgresql_where=text(f"status IN ({_LIVE})"),
        ),
    )

    id: UUID = Field(primary_key=True)
    user_id: UUID = Field(index=True)
    status: InstanceStatus = Field(
        sa_type=Enum(
            InstanceStatus,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    provider: str = Field(max_length=20)
    provider_id: str | None = Field(default=None, max_length=200)
    host: str | None = Field(default=None, max_length=200)
    agent_secret: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=1000)
    pause_reason: PauseReason | None = Field(
        default=None,
        sa_type=Enum(
            PauseReason,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        ),
    )
    """Why a paused instance was paused (who may wake it on their own: billing's re-activation
    wakes only what billing paused); None while it is not paused."""
    condition: str | None = Field(default=None, max_length=40)
    """What the activity service found wrong while it runs; cleared when it recovers or stops."""
    condition_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When the activity service saw the latest condition change (older news is ignored)."""
    pending_command_id: UUID | None = None
    """The command that started the current transition, so its redelivery resumes it."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)

    def view(self) -> InstanceView:
        return InstanceView(
            id=self.id,
            user_id=self.user_id,
            status=self.status,
            provider=self.provider,
            host=self.host,
            reason=self.reason,
            pause_reason=self.pause_reason,
            condition=self.condition,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class Entitlement(SQLModel, table=True):
    """Billing's verdict on one user, as its ``evt.billing.subscription.*`` events said last:
    whether they may create and wake an instance, and the machine their plan gives."""

    __tablename__ = "entitlements"

    user_id: UUID = Field(primary_key=True)
    subscription_id: str = Field(max_length=100)
    plan: str = Field(max_length=50)
    status: str = Field(max_length=20)
    entitled: bool
    cpus: float
    memory_mb: int
    disk_gb: int
    as_of: datetime = Field(sa_type=UTCDateTime)
    """When billing decided it (the event's ``occurred_at``): an older event changes nothing."""
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
