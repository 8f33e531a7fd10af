"""The one table of what each instance command does.

A row says where the command may start, the transitional state it passes through, where it ends,
the provider call it makes, and the event that announces the outcome. The service admits and
records by it; the handler calls the provider by it. Adding a command is one row here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from claudecloud_common.contracts.instances import (
    CreateInstance,
    DestroyInstance,
    InstanceCommand,
    InstanceDestroyed,
    InstanceEvent,
    InstancePaused,
    InstanceRunning,
    InstanceStatus,
    InstanceWoken,
    PauseInstance,
    WakeInstance,
)

from .providers import Machine, MachineRef, Provider

__all__ = ["RULES", "Rule", "why_not"]

S = InstanceStatus

Act = Callable[[Provider, Any, MachineRef], Awaitable[Machine | None]]
Outcome = Callable[[Any, dict[str, Any], str | None], InstanceEvent]


@dataclass(frozen=True)
class Rule:
    """What one command does, from admission to the event that announces its outcome."""

    verb: str
    allowed_from: frozenset[InstanceStatus]
    """States it may start from (none for create: it makes the row)."""
    via: InstanceStatus
    """The transitional state while the provider works."""
    to: InstanceStatus
    act: Act
    """The provider call; returns the machine when the call starts one."""
    outcome: Outcome
    """The event for a completed command, given the fields every instance event carries and
    the machine's address."""


async def _create(provider: Provider, _cmd: CreateInstance, ref: MachineRef) -> Machine:
    return await provider.create(ref)


async def _pause(provider: Provider, _cmd: PauseInstance, ref: MachineRef) -> None:
    await provider.pause(ref)


async def _wake(provider: Provider, _cmd: WakeInstance, ref: MachineRef) -> Machine:
    return await provider.wake(ref)


async def _destroy(provider: Provider, cmd: DestroyInstance, ref: MachineRef) -> None:
    await provider.destroy(ref, purge=cmd.purge)


RULES: dict[type[InstanceCommand], Rule] = {
    CreateInstance: Rule(
        "create",
        frozenset(),
        S.PROVISIONING,
        S.RUNNING,
        _create,
        lambda _cmd, common, host: InstanceRunning(host=host, **common),
    ),
    PauseInstance: Rule(
        "pause",
        frozenset({S.RUNNING}),
        S.PAUSING,
        S.PAUSED,
        _pause,
        lambda cmd, common, _host: InstancePaused(reason=cmd.reason, **common),
    ),
    WakeInstance: Rule(
        "wake",
        frozenset({S.PAUSED}),
        S.WAKING,
        S.RUNNING,
        _wake,
        lambda _cmd, common, _host: InstanceWoken(**common),
    ),
    DestroyInstance: Rule(
        "destroy",
        frozenset({S.RUNNING, S.PAUSED, S.FAILED}),
        S.DESTROYING,
        S.DESTROYED,
        _destroy,
        lambda cmd, common, _host: InstanceDestroyed(purged=cmd.purge, **common),
    ),
}

_WHY_NOT = {
    S.PROVISIONING: "it is still being created",
    S.PAUSING: "it is being paused",
    S.WAKING: "it is waking up",
    S.DESTROYING: "it is being destroyed",
    S.DESTROYED: "it has been destroyed",
    S.FAILED: "it has failed; destroy it and create a new one",
    S.RUNNING: "it is already running",
    S.PAUSED: "it is paused; wake it first",
}


def why_not(status: InstanceStatus) -> str:
    """Why a command cannot start from ``status``, for a person."""
    return _WHY_NOT[status]
