"""The one table of what each instance command does.

A row says the move that admits the command (none for create: admitting it makes the row), the
transitional state it passes through, the move that completes it, and the provider call in
between. Which states a command may start from is the lifecycle table's business
(:data:`provisioner.lifecycle.MOVES`), read from there. The service admits and records by this
table; the handler calls the provider by it. Adding a command is one row here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from claudecloud_common.contracts.instances import (
    CreateInstance,
    DestroyInstance,
    InstanceCommand,
    InstanceStatus,
    PauseInstance,
    WakeInstance,
)
from claudecloud_common.contracts.providers import Capabilities, capabilities

from .lifecycle import MOVES, Cause
from .providers import Machine, MachineRef, Provider

__all__ = ["RULES", "Rule", "why_not"]

S = InstanceStatus

Act = Callable[[Provider, Any, MachineRef], Awaitable[Machine | None]]


@dataclass(frozen=True)
class Rule:
    """What one command does, from admission to the move that records its outcome."""

    verb: str
    admit: Cause | None
    """The move into the transitional state (None for create: it makes the row)."""
    via: InstanceStatus
    """The transitional state while the provider works."""
    done: Callable[[Any, Capabilities], Cause]
    """The move that records the completed command (the command and what the provider can
    do may choose it: a pause that keeps memory ends frozen where the provider can freeze)."""
    act: Act
    """The provider call; returns the machine when the call starts one."""

    @property
    def allowed_from(self) -> frozenset[InstanceStatus]:
        """States the command may start from."""
        return MOVES[self.admit].sources if self.admit is not None else frozenset()


async def _create(provider: Provider, _cmd: CreateInstance, ref: MachineRef) -> Machine:
    return await provider.create(ref)


def freezes(command: PauseInstance, can: Capabilities) -> bool:
    """Whether a pause freezes the machine (else it stops it)."""
    return command.keep_memory and can.keeps_memory


async def _pause(provider: Provider, cmd: PauseInstance, ref: MachineRef) -> None:
    await provider.pause(ref, keep_memory=freezes(cmd, capabilities(provider.name)))


async def _wake(provider: Provider, _cmd: WakeInstance, ref: MachineRef) -> Machine:
    return await provider.wake(ref)


async def _destroy(provider: Provider, cmd: DestroyInstance, ref: MachineRef) -> None:
    await provider.destroy(ref, purge=cmd.purge)


RULES: dict[type[InstanceCommand], Rule] = {
    CreateInstance: Rule("create", None, S.PROVISIONING, lambda _c, _p: Cause.CREATED, _create),
    PauseInstance: Rule(
        "pause",
        Cause.PAUSE,
        S.PAUSING,
        lambda cmd, can: Cause.FROZEN if freezes(cmd, can) else Cause.PAUSED,
        _pause,
    ),
    WakeInstance: Rule("wake", Cause.WAKE, S.WAKING, lambda _c, _p: Cause.WOKEN, _wake),
    DestroyInstance: Rule(
        "destroy", Cause.DESTROY, S.DESTROYING, lambda _c, _p: Cause.DESTROYED, _destroy
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
    S.FROZEN: "it is frozen; wake it first",
}


def why_not(status: InstanceStatus) -> str:
    """Why a command cannot start from ``status``, for a person."""
    return _WHY_NOT[status]
