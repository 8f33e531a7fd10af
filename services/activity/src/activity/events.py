"""The one place what activity sends is built: usage samples, pauses (freezes and stops) and
health events, each with an id derived from what it is about, so a second replica or a retried
poll can only repeat one, never double it."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from claudecloud_common.contracts.activity import (
    HealthCondition,
    InstanceIdleWarning,
    InstanceRecovered,
    InstanceUnhealthy,
    UsageKind,
    UsageSample,
)
from claudecloud_common.contracts.audit import Actor, ActorKind, AuditKind, AuditRecorded
from claudecloud_common.contracts.instances import PauseInstance
from claudecloud_common.contracts.spend import ClaudeSpendDay, ClaudeSpendReported

from .models import InstanceActivity
from .rules import Pause

__all__ = [
    "claude_spend",
    "derived_id",
    "idle_warning",
    "pause_audited",
    "pause_command",
    "recovered",
    "unhealthy",
    "usage",
]

NAMESPACE = UUID("0b7e3c52-6a0d-4d8e-9f5e-3c1f7a9d2b64")


def derived_id(kind: str, instance_id: UUID, key: object) -> UUID:
    return uuid5(NAMESPACE, f"{kind}:{instance_id}:{key}")


def usage(row: InstanceActivity, kind: UsageKind, seconds: float, key: object) -> UsageSample:
    """A sample of ``kind`` named by ``key``: the poll's interval, or (``end``) the frozen
    stretch it closes."""
    name = "usage" if kind is UsageKind.RUNNING else f"usage.{kind.value}"
    sample_id = derived_id(name, row.instance_id, key)
    return UsageSample(
        id=sample_id,
        sample_id=sample_id,
        seconds=seconds,
        kind=kind,
        user_id=row.user_id,
        instance_id=row.instance_id,
    )


def claude_spend(
    row: InstanceActivity, days: list[ClaudeSpendDay], interval: int
) -> ClaudeSpendReported:
    """The days whose Claude totals grew, as one poll found them (a retried poll repeats it)."""
    return ClaudeSpendReported(
        id=derived_id("claude_spend", row.instance_id, interval),
        user_id=row.user_id,
        instance_id=row.instance_id,
        days=days,
    )


def pause_command(
    instance_id: UUID, pause: Pause, run_started_at: datetime, frozen_at: datetime | None
) -> PauseInstance:
    """One freeze (or single-tier stop) per run and one stop per frozen stretch, whoever sends
    it and however often: the provisioner's inbox makes a repeated id a no-op."""
    if frozen_at is not None and not pause.keep_memory:
        command_id = derived_id("stop", instance_id, frozen_at.isoformat())
    else:
        command_id = derived_id("pause", instance_id, run_started_at.isoformat())
    return PauseInstance(
        id=command_id, instance_id=instance_id, reason=pause.reason, keep_memory=pause.keep_memory
    )


def pause_audited(user_id: UUID, command: PauseInstance) -> AuditRecorded:
    """The audit record of a pause activity sends (its id follows the command's: one record
    however often the command is repeated)."""
    return AuditRecorded(
        id=derived_id("audit.pause", command.instance_id, command.id),
        user_id=user_id,
        kind=AuditKind.INSTANCE_COMMAND,
        actor=Actor(kind=ActorKind.ACTIVITY, id="activity"),
        instance_id=command.instance_id,
        detail={
            "command": "pause",
            "keep_memory": command.keep_memory,
            "reason": command.reason.value,
            "command_id": str(command.id),
        },
    )


def idle_warning(row: InstanceActivity, deadline: datetime) -> InstanceIdleWarning:
    """One warning per deadline, however many polls see it coming."""
    return InstanceIdleWarning(
        id=derived_id("idle_warning", row.instance_id, deadline.isoformat()),
        user_id=row.user_id,
        instance_id=row.instance_id,
        deadline_at=deadline,
        action="freeze" if row.keeps_memory is not False else "stop",
    )


def unhealthy(
    row: InstanceActivity, condition: HealthCondition, detail: str, failed: int, interval: int
) -> InstanceUnhealthy:
    return InstanceUnhealthy(
        id=derived_id(f"unhealthy.{condition.value}", row.instance_id, interval),
        condition=condition,
        detail=detail,
        failed_polls=failed,
        user_id=row.user_id,
        instance_id=row.instance_id,
    )


def recovered(
    row: InstanceActivity, condition: HealthCondition, interval: int
) -> InstanceRecovered:
    return InstanceRecovered(
        id=derived_id(f"recovered.{condition.value}", row.instance_id, interval),
        condition=condition,
        user_id=row.user_id,
        instance_id=row.instance_id,
    )
