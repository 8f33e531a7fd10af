"""Activity: owned by the activity service (what instances are really doing, and for how long)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from .base import Event
from .instances import InstanceStatus

__all__ = [
    "ActivitySubject",
    "ActivityView",
    "DecisionView",
    "GetActivity",
    "HealthCondition",
    "InstanceRecovered",
    "InstanceUnhealthy",
    "UsageSample",
]


class ActivitySubject(StrEnum):
    USAGE = "evt.activity.usage"
    UNHEALTHY = "evt.activity.unhealthy"
    RECOVERED = "evt.activity.recovered"

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


class UsageSample(Event):
    """An instance was found active for ``seconds`` (one polling interval). Billing adds it to
    the user's usage ledger once per ``sample_id``, however often it is delivered."""

    type: Literal["activity.usage"] = "activity.usage"
    subject: ClassVar[ActivitySubject] = ActivitySubject.USAGE
    user_id: UUID
    instance_id: UUID
    seconds: float = Field(gt=0, le=86_400)
    sample_id: UUID
    """Names the observation: the same interval reported again carries the same id."""


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


# Queries (request-reply)


class GetActivity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    instance_id: UUID
    decisions: int = Field(default=20, ge=0, le=200)
    """How many of the latest decisions to return."""


class DecisionView(BaseModel):
    """One decision about an instance, with the reason a person can read."""

    model_config = ConfigDict(frozen=True)

    decided_at: datetime
    decision: str
    """``started``, ``active``, ``idle``, ``pause``, ``unhealthy``, ``recovered`` or ``stopped``."""
    reason: str
    """Machine-readable: ``terminal_input``, ``chat_turn_running``, ``idle``, ``max_lifetime``..."""
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
    """When it pauses for being idle, unless real activity pushes it forward."""
    max_lifetime_at: datetime | None = None
    """When it pauses even if busy, unless a person types or prompts before."""
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
