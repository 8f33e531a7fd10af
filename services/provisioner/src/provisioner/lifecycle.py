"""The one table of every change an instance's status can make, and the one function that makes it.

Each :class:`Cause` is one move: the states it may start from and the one state it ends in. A
command's admission, its completion, the Hetzner saga's steps, a failure, the stuck sweeper and
the reconciliation check's repairs are all causes here; anything else raises
:class:`IllegalMove`. :func:`changes` is what a move writes besides the status (the reason, the
failure code, the pause reason, the address and condition a stopped machine no longer has), so a
row loaded for update (:meth:`Instance.move <provisioner.models.Instance.move>`) and the
compare-and-set that completes a command write exactly the same columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any
from uuid import UUID

from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.instances import FailureCode, InstanceStatus, PauseReason

from .providers.base import Machine

__all__ = [
    "MOVES",
    "REPAIRS",
    "TRANSITIONAL",
    "Cause",
    "IllegalMove",
    "Move",
    "changes",
    "repair",
    "target",
]

S = InstanceStatus

TRANSITIONAL = frozenset({S.PROVISIONING, S.PAUSING, S.WAKING, S.DESTROYING})
"""States a provider call is under way in; the command that entered one is pending on the row."""


class Cause(StrEnum):
    """Why an instance's status changes. A failure's cause is its :class:`FailureCode`."""

    PAUSE = "pause"
    WAKE = "wake"
    DESTROY = "destroy"
    """Admissions: a command entered its transitional state."""
    CREATED = "created"
    PAUSED = "paused"
    FROZEN = "frozen"
    WOKEN = "woken"
    DESTROYED = "destroyed"
    """Completions: the provider did what the command asked."""
    MESH_FINALIZED = "mesh_finalized"
    """The saga's last step: the private network reaches the new server."""
    FOUND_STOPPED = "found_stopped"
    FOUND_FROZEN = "found_frozen"
    FOUND_RUNNING = "found_running"
    """Repairs: the check found the machine in another state than the row says."""
    PROVIDER_ERROR = FailureCode.PROVIDER_ERROR.value
    AGENT_UNREACHABLE = FailureCode.AGENT_UNREACHABLE.value
    STUCK = FailureCode.STUCK.value
    MESH_STEP_FAILED = FailureCode.MESH_STEP_FAILED.value
    MACHINE_MISSING = FailureCode.MACHINE_MISSING.value

    @property
    def failure(self) -> FailureCode | None:
        """The failure code this cause records, when it is a failure."""
        return _FAILURES.get(self.value)


_FAILURES = {code.value: code for code in FailureCode}


@dataclass(frozen=True)
class Move:
    sources: frozenset[InstanceStatus]
    to: InstanceStatus


def _move(to: InstanceStatus, *sources: InstanceStatus) -> Move:
    return Move(frozenset(sources), to)


_STOPPABLE = (S.RUNNING, S.FROZEN)
"""Where a machine is up (running or frozen) and can be found otherwise than the row says."""

MOVES: MappingProxyType[Cause, Move] = MappingProxyType(
    {
        Cause.PAUSE: _move(S.PAUSING, S.RUNNING, S.FROZEN),
        Cause.WAKE: _move(S.WAKING, S.PAUSED, S.FROZEN),
        Cause.DESTROY: _move(S.DESTROYING, S.RUNNING, S.PAUSED, S.FROZEN, S.FAILED),
        Cause.CREATED: _move(S.RUNNING, S.PROVISIONING),
        Cause.PAUSED: _move(S.PAUSED, S.PAUSING),
        Cause.FROZEN: _move(S.FROZEN, S.PAUSING),
        Cause.WOKEN: _move(S.RUNNING, S.WAKING),
        Cause.DESTROYED: _move(S.DESTROYED, S.DESTROYING),
        Cause.MESH_FINALIZED: _move(S.RUNNING, S.PROVISIONING),
        Cause.FOUND_STOPPED: _move(S.PAUSED, *_STOPPABLE),
        Cause.FOUND_FROZEN: _move(S.FROZEN, S.RUNNING),
        Cause.FOUND_RUNNING: _move(S.RUNNING, S.FROZEN),
        Cause.PROVIDER_ERROR: _move(S.FAILED, *TRANSITIONAL),
        Cause.AGENT_UNREACHABLE: _move(S.FAILED, S.PROVISIONING, S.WAKING),
        Cause.STUCK: _move(S.FAILED, *TRANSITIONAL),
        Cause.MESH_STEP_FAILED: _move(S.FAILED, S.PROVISIONING),
        Cause.MACHINE_MISSING: _move(S.FAILED, *_STOPPABLE),
    }
)
"""Every legal move. A state not listed as a source of a cause cannot take it."""


class IllegalMove(RuntimeError):
    """A move the table does not allow: a bug in the caller, never a user's mistake (those are
    refused before, with :class:`~provisioner.errors.IllegalTransition`)."""


def target(status: InstanceStatus, cause: Cause) -> InstanceStatus:
    """Where ``cause`` takes an instance in ``status``; raises :class:`IllegalMove`."""
    move = MOVES[cause]
    if status not in move.sources:
        raise IllegalMove(f"an instance that is {status.value} cannot move on {cause.value}")
    return move.to


def changes(
    status: InstanceStatus,
    cause: Cause,
    *,
    reason: str | None = None,
    pause_reason: PauseReason | None = None,
    command_id: UUID | None = None,
) -> dict[str, Any]:
    """The columns a move from ``status`` on ``cause`` writes (raises :class:`IllegalMove`).

    ``reason`` is the sentence a failure or a repair gives; ``pause_reason`` says who paused or
    froze it; ``command_id`` is the command a transitional state is entered for (its
    redelivery resumes the work), required there and cleared everywhere else. A machine that
    is not running has no condition to show and, unless frozen (the same container, the same
    address), no address.
    """
    to = target(status, cause)
    values: dict[str, Any] = {
        "status": to,
        "reason": reason,
        "failure": cause.failure,
        "pause_reason": pause_reason if to in (S.PAUSED, S.FROZEN) else None,
        "updated_at": utcnow(),
    }
    if to is not S.RUNNING:
        values["condition"] = None
    if to not in (S.RUNNING, S.FROZEN) and to not in TRANSITIONAL:
        values["host"] = None
    if to in TRANSITIONAL and command_id is None:
        raise IllegalMove(f"entering {to.value} needs the command that asks for it")
    values["pending_command_id"] = command_id if to in TRANSITIONAL else None
    return values


REPAIRS = {
    Cause.FOUND_STOPPED: "its machine was found stopped",
    Cause.FOUND_FROZEN: "its machine was found frozen",
    Cause.FOUND_RUNNING: "its machine was found running",
    Cause.MACHINE_MISSING: (
        "its machine was found missing; destroy it and create it again (data is kept)"
    ),
}


def repair(status: InstanceStatus, machine: Machine | None) -> Cause | None:
    """The move that makes an up row (``running`` or ``frozen``) agree with its machine (None:
    they agree)."""
    if machine is None:
        return Cause.MACHINE_MISSING
    if not machine.running:
        return Cause.FOUND_STOPPED
    if machine.frozen and status is S.RUNNING:
        return Cause.FOUND_FROZEN
    if not machine.frozen and status is S.FROZEN:
        return Cause.FOUND_RUNNING
    return None
