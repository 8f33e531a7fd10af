"""Activity: owned by the activity service (what instances are really doing, and for how long)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from .base import Event, Query
from .instances import InstanceStatus

__all__ = [
    "ActivitySubject",
    "ActivityView",
    "DecisionView",
    "GetActivity",
    "HealthCondition",
    "InstanceIdleWarning",
    "InstanceRecovered",
    "InstanceUnhealthy",
    "UsageKind",
    "UsageSample",
]


class ActivitySubject(StrEnum):
    USAGE = "evt.activity.usage"
    UNHEALTHY = "evt.activity.unhealthy"
    RECOVERED = "evt.activity.recovered"
    IDLE_WARNING = "evt.activity.idle_warning"
    """An instance is idle and is frozen (or stopped) soon unless it is used."""

    GET = "rpc.activity.get"
    """An instance's deadline, condition and last decisions (the gateway asks for its owner)."""


class HealthCondition(StrEnum):
    """What is wrong with a running instance, named instead of a silent ``running``."""

    AGENT_UNREACHABLE = "agent_unreachable"
    """Its agent failed to answer several polls in a row."""
    OOM_KILLED = "oom_killed"
    """A process of the instance was killed for lack of memory since the last poll."""
    RESTARTING = "restarting"
    """Its machine is being restarted, or was restarted since the last poll."""


class UsageKind(StrEnum):
    """What a usage sample measures; billing keeps the kinds apart."""

    RUNNING = "running"
    """Active use: an interval with typing or Claude at work."""
    FROZEN = "frozen"
    """Time frozen: nothing runs, but the machine holds its memory."""


class UsageSample(Event):
    """An instance was found active for ``seconds`` (one polling interval), or was frozen that
    long (``kind``). Billing adds it to the user's usage ledger once per ``sample_id``, however
    often it is delivered."""

    type: Literal["activity.usage"] = "activity.usage"
    subject: ClassVar[ActivitySubject] = ActivitySubject.USAGE
    user_id: UUID
    instance_id: UUID
    seconds: float = Field(gt=0, le=86_400)
    sample_id: UUID
    """Names the observation: the same interval reported again carries the same id."""
    kind: UsageKind = UsageKind.RUNNING
    """Running (active) time, or frozen time (a sample from before kinds existed is running)."""


class InstanceUnhealthy(Event):
    """A running instance has a named problem (``condition``); ``detail`` says what was seen."""

    type: Literal["activity.unhealthy"] = "activity.unhealthy"
    subject: ClassVar[ActivitySubject] = ActivitySubject.UNHEALTHY
    user_id: UUID
    instance_id: UUID
    condition: HealthCondition
    detail: str
    failed_polls: int = 0


class InstanceRecovered(Event):
    """The problem ``condition`` named is gone: the instance answers and looks well again."""

    type: Literal["activity.recovered"] = "activity.recovered"
    subject: ClassVar[ActivitySubject] = ActivitySubject.RECOVERED
    user_id: UUID
    instance_id: UUID
    condition: HealthCondition


class InstanceIdleWarning(Event):
    """``instance_id`` has been idle and is frozen (``action`` ``freeze``) or stopped at
    ``deadline_at`` unless real activity comes first. Its id is derived from the instance and the
    deadline: every poll that warns of the same deadline sends the same event."""

    type: Literal["activity.idle_warning"] = "activity.idle_warning"
    subject: ClassVar[ActivitySubject] = ActivitySubject.IDLE_WARNING
    user_id: UUID
    instance_id: UUID
    deadline_at: datetime
    action: Literal["freeze", "stop"]


# Queries (request-reply): the answer first, then the query that names it


class DecisionView(BaseModel):
    """One decision about an instance, with the reason a person can read."""

    model_config = ConfigDict(frozen=True)

    decided_at: datetime
    decision: str
    """What activity did or saw: ``started``, ``active``, ``idle``, ``freeze`` and ``stop`` (the
    commands it sent), ``frozen`` and ``stopped`` (what happened), ``unhealthy``,
    ``recovered``."""
    reason: str
    """Machine-readable: ``terminal_input``, ``chat_turn_running``, ``idle``, ``max_lifetime``,
    ``host_memory``..."""
    detail: str
    deadline_at: datetime | None = None


class ActivityView(BaseModel):
    """Why an instance is still running, or why it stopped."""

    model_config = ConfigDict(frozen=True)

    instance_id: UUID
    user_id: UUID
    status: InstanceStatus
    condition: HealthCondition | None = None
    condition_detail: str | None = None
    deadline_at: datetime | None = None
    """While it runs: when it is frozen for being idle (stopped, where its provider cannot keep
    memory), unless real activity pushes it forward."""
    deadline_action: Literal["freeze", "stop"] | None = None
    """What happens at ``deadline_at``."""
    max_lifetime_at: datetime | None = None
    """When it is frozen (or stopped) even if busy, unless a person types or prompts before."""
    frozen_at: datetime | None = None
    """While frozen: since when."""
    stops_at: datetime | None = None
    """While frozen: when it is stopped (only its volume kept) unless woken before."""
    memory_bytes: int | None = None
    """The memory its machine held at the last poll, when the provider can tell."""
    last_activity_at: datetime | None = None
    last_activity_reason: str | None = None
    last_human_input_at: datetime | None = None
    last_polled_at: datetime | None = None
    failed_polls: int = 0
    processes: int = 0
    """Processes the provider saw in the machine at the last poll (never counted as activity)."""
    cpu_seconds: float | None = None
    """CPU time the machine had used by the last poll, when the provider can tell."""
    decisions: list[DecisionView] = Field(default_factory=list)


class GetActivity(Query[ActivityView]):
    """Why an instance still runs or why it stopped (``ActivityNotFound`` before it ever ran)."""

    subject: ClassVar[ActivitySubject] = ActivitySubject.GET
    instance_id: UUID
    decisions: int = Field(default=20, ge=0, le=200)
    """How many of the latest decisions to return."""
