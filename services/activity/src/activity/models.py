"""The activity service's tables: what it knows of each instance, and every decision it made."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import BigInteger, Enum, Text
from sqlmodel import Field, SQLModel

from claudecloud_common.contracts.activity import DecisionView, HealthCondition
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.instances import InstanceStatus
from claudecloud_common.db import UTCDateTime


def _enum(kind: type[InstanceStatus] | type[HealthCondition]) -> Enum:
    return Enum(kind, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class InstanceActivity(SQLModel, table=True):
    """One instance as activity follows it: its deadline, its health, and the agent's counters
    as last read (so the next poll knows what happened in between)."""

    __tablename__ = "instance_activity"

    instance_id: UUID = Field(primary_key=True)
    user_id: UUID = Field(index=True)
    status: InstanceStatus = Field(sa_type=_enum(InstanceStatus), index=True)
    status_at: datetime = Field(sa_type=UTCDateTime)
    """When the event that set ``status`` happened (an older event never overrides it)."""
    run_started_at: datetime = Field(sa_type=UTCDateTime)
    next_poll_at: datetime = Field(sa_type=UTCDateTime, index=True)
    claimed_interval: int | None = None
    """The interval whose poll last claimed this row (a replica's claim, see the poller)."""
    last_polled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    last_activity_at: datetime = Field(sa_type=UTCDateTime)
    last_activity_reason: str = Field(max_length=40)
    last_human_input_at: datetime = Field(sa_type=UTCDateTime)
    last_turn_ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    deadline_at: datetime = Field(sa_type=UTCDateTime)
    idle_recorded: bool = False
    """The current quiet stretch already has its ``idle`` decision."""
    pause_requested_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    condition: HealthCondition | None = Field(default=None, sa_type=_enum(HealthCondition))
    condition_detail: str | None = Field(default=None, max_length=500)
    condition_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failed_polls: int = 0

    agent_boot_id: str | None = Field(default=None, max_length=64)
    agent_inputs: int = 0
    tmux_input_at: float | None = None
    """The agent's last "a tmux client typed" time as it reported it (its own clock; only ever
    compared with its next report)."""
    agent_turns_started: int = 0
    agent_turns_ended: int = 0
    oom_kills: int | None = None
    machine_restarts: int | None = None
    processes: int = 0
    cpu_seconds: float | None = None

    keeps_memory: bool | None = None
    """Whether its provider can freeze it (keep memory when paused), as the last poll said."""
    frozen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """Since when it is frozen (this service's clock); None unless frozen or being stopped."""
    frozen_metered_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """How far its frozen time went into usage samples."""
    memory_bytes: int | None = Field(default=None, sa_type=BigInteger)
    """The memory its machine held at the last poll, when the provider can tell."""
    claude_spend_seen: str = Field(default="", sa_type=Text)
    """Claude's totals per day and source last sent to billing (JSON; see :mod:`.spend`)."""


class Decision(SQLModel, table=True):
    """A decision about an instance and why. Its id is derived from what it decides about, so
    the same decision taken twice (a replica, a redelivery) is one row."""

    __tablename__ = "activity_decisions"

    id: UUID = Field(primary_key=True)
    instance_id: UUID = Field(index=True)
    decided_at: datetime = Field(sa_type=UTCDateTime, index=True)
    decision: str = Field(max_length=20)
    reason: str = Field(max_length=40)
    detail: str = Field(max_length=500)
    deadline_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    """Wall time of the write: orders decisions taken at the same moment of the poller's clock."""

    def view(self) -> DecisionView:
        return DecisionView(
            decided_at=self.decided_at,
            decision=self.decision,
            reason=self.reason,
            detail=self.detail,
            deadline_at=self.deadline_at,
        )


class MemoryRelief(SQLModel, table=True):
    """One poll interval's answer to host memory pressure (stopping the longest-frozen). Its key
    is the interval, so replicas ticking together relieve the host once, not once each."""

    __tablename__ = "memory_reliefs"

    interval: int = Field(primary_key=True)
    decided_at: datetime = Field(sa_type=UTCDateTime, index=True)
    available_bytes: int = Field(sa_type=BigInteger)
    minimum_bytes: int = Field(sa_type=BigInteger)
    stopped: int = 0
