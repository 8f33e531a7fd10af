"""The provisioner's tables."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import SecretStr
from sqlalchemy import Enum, Index, Text, text
from sqlmodel import Field, SQLModel

from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.instances import (
    LIVE_STATUSES,
    FailureCode,
    InstanceEndpoint,
    InstanceStatus,
    InstanceView,
    PauseReason,
)
from claudecloud_common.contracts.providers import ProviderKind
from claudecloud_common.db import UTCDateTime

from .lifecycle import Cause, changes
from .providers.base import MachineRef

_LIVE = ", ".join(sorted(f"'{s.value}'" for s in LIVE_STATUSES))


def _enum(kind: type[StrEnum], length: int) -> Enum:
    """A column holding ``kind``'s values as plain strings (no database enum type to migrate)."""
    return Enum(
        kind, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e]
    )


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
    status: InstanceStatus = Field(sa_type=_enum(InstanceStatus, 20))
    """Changed only by :meth:`move`, by the table in :mod:`provisioner.lifecycle`."""
    provider: ProviderKind = Field(sa_type=_enum(ProviderKind, 20))
    provider_id: str | None = Field(default=None, max_length=200)
    host: str | None = Field(default=None, max_length=200)
    agent_secret: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=1000)
    failure: FailureCode | None = Field(default=None, sa_type=_enum(FailureCode, 30))
    """Why it failed, in a type; None unless ``failed``."""
    pause_reason: PauseReason | None = Field(default=None, sa_type=_enum(PauseReason, 20))
    """Why a paused or frozen instance was paused (who may wake it on their own: billing's
    re-activation wakes only what billing paused); None otherwise."""
    condition: str | None = Field(default=None, max_length=40)
    """What the activity service found wrong while it runs; cleared when it recovers or stops."""
    condition_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When the activity service saw the latest condition change (older news is ignored)."""
    pending_command_id: UUID | None = None
    """The command that started the current transition, so its redelivery resumes it."""
    slot_id: UUID | None = None
    """The warm pool slot its machine was claimed from (its machine and volume are the
    slot's, for good)."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)

    def move(
        self,
        cause: Cause,
        *,
        reason: str | None = None,
        pause_reason: PauseReason | None = None,
        command_id: UUID | None = None,
    ) -> InstanceStatus:
        """Change the status as ``cause`` says (raises ``IllegalMove`` when the table does not
        allow it from the current one); the new status. ``command_id``: the command an
        admission enters its transitional state for."""
        values: dict[str, Any] = changes(
            self.status, cause, reason=reason, pause_reason=pause_reason, command_id=command_id
        )
        for name, value in values.items():
            setattr(self, name, value)
        return self.status

    def ref(self, **size: Any) -> MachineRef:
        """The name its provider finds its machine by, with its secret and slot (and the
        plan's size, when given: ``cpus``, ``memory_mb``, ``disk_gb``)."""
        secret = SecretStr(self.agent_secret) if self.agent_secret else None
        return MachineRef(self.id, self.user_id, agent_secret=secret, slot_id=self.slot_id, **size)

    def endpoint(self) -> InstanceEndpoint:
        """Where its agent answers, with the secret: both only while it runs."""
        running = self.status is InstanceStatus.RUNNING
        secret = self.agent_secret if running else None
        return InstanceEndpoint(
            instance_id=self.id,
            user_id=self.user_id,
            status=self.status,
            host=self.host if running else None,
            agent_secret=SecretStr(secret) if secret else None,
        )

    def view(self) -> InstanceView:
        return InstanceView(
            id=self.id,
            user_id=self.user_id,
            status=self.status,
            provider=self.provider,
            host=self.host,
            reason=self.reason,
            failure=self.failure,
            pause_reason=self.pause_reason,
            condition=self.condition,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class CheckpointRecord(SQLModel, table=True):
    """The checkpoint taken before an instance's latest stop (what its agent saved), or why
    there is none. One row per instance: a newer stop replaces it."""

    __tablename__ = "checkpoints"

    instance_id: UUID = Field(primary_key=True)
    taken_at: datetime = Field(sa_type=UTCDateTime)
    reason: str = Field(max_length=20)
    payload: str | None = Field(default=None, sa_type=Text)
    """The agent's ``Checkpoint`` as JSON; None when it could not be taken."""
    error: str | None = Field(default=None, max_length=1000)


class SlotState(StrEnum):
    STARTING = "starting"
    READY = "ready"
    CLAIMED = "claimed"


class PoolSlot(SQLModel, table=True):
    """One machine of the warm pool: started ahead of any create, then claimed by one."""

    __tablename__ = "pool_slots"

    id: UUID = Field(primary_key=True)
    state: SlotState = Field(sa_type=_enum(SlotState, 20), index=True)
    image: str = Field(max_length=200)
    """The image it was made from: one made from another than the current is replaced."""
    secret: str = Field(max_length=200)
    """The pool secret its agent answers until a claim gives it its owner's."""
    provider_id: str | None = Field(default=None, max_length=200)
    host: str | None = Field(default=None, max_length=200)
    instance_id: UUID | None = Field(default=None, unique=True)
    """The instance that claimed it: its machine, for good."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ready_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


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
