"""The one place an instance's lifecycle events are built: from the row after its move."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from claudecloud_common.contracts.instances import (
    FailureCode,
    InstanceAccepted,
    InstanceDestroyed,
    InstanceEvent,
    InstanceFailed,
    InstanceFrozen,
    InstancePaused,
    InstanceRequested,
    InstanceRunning,
    InstanceStatus,
    InstanceWoken,
    PauseReason,
)
from claudecloud_common.contracts.providers import capabilities

from .lifecycle import Cause
from .models import Instance

__all__ = ["announce"]

S = InstanceStatus


def announce(
    instance: Instance,
    cause: Cause | None,
    *,
    command_id: UUID | None,
    correlation_id: str | None,
    purged: bool = False,
) -> InstanceEvent:
    """The event that says ``instance`` is now in its status, because of ``cause`` (None: the
    row was just made), for the command ``command_id`` when one caused it."""
    common: dict[str, Any] = {
        "instance_id": instance.id,
        "user_id": instance.user_id,
        "status": instance.status,
        "command_id": command_id,
        "correlation_id": correlation_id,
    }
    return _BUILDERS[instance.status](instance, cause, purged, common)


def _failed(instance: Instance, common: dict[str, Any]) -> InstanceEvent:
    code = instance.failure or FailureCode.PROVIDER_ERROR
    return InstanceFailed(reason=instance.reason or code.value, code=code, **common)


def _running(instance: Instance, cause: Cause | None, common: dict[str, Any]) -> InstanceEvent:
    if cause is Cause.WOKEN:
        return InstanceWoken(**common)
    return InstanceRunning(host=instance.host, **common)


def _paused_why(instance: Instance) -> PauseReason:
    return instance.pause_reason or PauseReason.USER


_Builder = Callable[[Instance, Cause | None, bool, dict[str, Any]], InstanceEvent]
_BUILDERS: dict[InstanceStatus, _Builder] = {
    S.PROVISIONING: lambda i, _c, _p, k: InstanceRequested(mesh=capabilities(i.provider).mesh, **k),
    S.PAUSING: lambda _i, _c, _p, k: InstanceAccepted(command="pause", **k),
    S.WAKING: lambda _i, _c, _p, k: InstanceAccepted(command="wake", **k),
    S.DESTROYING: lambda _i, _c, _p, k: InstanceAccepted(command="destroy", **k),
    S.RUNNING: lambda i, c, _p, k: _running(i, c, k),
    S.PAUSED: lambda i, _c, _p, k: InstancePaused(reason=_paused_why(i), **k),
    S.FROZEN: lambda i, _c, _p, k: InstanceFrozen(reason=_paused_why(i), **k),
    S.DESTROYED: lambda _i, _c, purged, k: InstanceDestroyed(purged=purged, **k),
    S.FAILED: lambda i, _c, _p, k: _failed(i, k),
}
"""The event for each status; the match is total (a test walks every status)."""
