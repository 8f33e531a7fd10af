"""What every provider offers. Every call is idempotent: creating what exists returns it,
pausing what is stopped succeeds, destroying what is gone succeeds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from pydantic import SecretStr


@dataclass(frozen=True)
class MachineRef:
    """Names a user's machine; providers derive deterministic resource names from it."""

    instance_id: UUID
    user_id: UUID
    setup_key: SecretStr | None = None
    """A one-off mesh enrolment key (Hetzner + Netbird); ignored by docker and fake."""
    cpus: float | None = None
    """The machine's size from the user's plan (billing on); None: the provider's setting."""
    memory_mb: int | None = None


@dataclass(frozen=True)
class Machine:
    provider_id: str
    running: bool
    host: str | None = None
    agent_secret: SecretStr | None = None
    network: str | None = None
    """The machine's private subnet, where it has one (hetzner: the mesh route's target)."""


@dataclass(frozen=True)
class Activity:
    running: bool
    healthy: bool
    processes: int = 0
    details: dict[str, str] = field(default_factory=dict)
    cpu_seconds: float | None = None
    """CPU time used since the machine started, when the backend can tell."""
    oom_killed: bool = False
    """The machine's main process was last killed for lack of memory."""
    restarting: bool = False
    restarts: int = 0
    """How often the backend restarted the machine."""


@dataclass(frozen=True)
class OwnedMachine:
    """A machine this deployment made, as the backend labels it (for reconciliation)."""

    provider_id: str
    instance_id: UUID
    user_id: UUID
    running: bool


class ProviderError(Exception):
    """A provider call failed. ``retryable`` says whether trying again may help."""

    retryable: bool = False


class ProviderUnavailable(ProviderError):
    """The backend (engine, cloud API) did not answer; the call is retried with backoff."""

    retryable = True


class ProviderFailure(ProviderError):
    """The call cannot succeed as asked (missing image, quota, bad configuration)."""


class Provider(Protocol):
    name: str

    async def create(self, ref: MachineRef) -> Machine:
        """Make (or find) the user's machine and its data volume, started."""
        ...

    async def pause(self, ref: MachineRef) -> None:
        """Stop compute and keep the data."""
        ...

    async def wake(self, ref: MachineRef) -> Machine:
        """Start the paused machine again."""
        ...

    async def destroy(self, ref: MachineRef, *, purge: bool) -> None:
        """Remove compute; remove the data too only when ``purge``."""
        ...

    async def inspect(self, ref: MachineRef) -> Machine | None:
        """The machine as the backend sees it, or None when it does not exist."""
        ...

    async def activity(self, ref: MachineRef) -> Activity:
        """Whether the machine is running, healthy, and doing anything."""
        ...

    async def inventory(self) -> list[OwnedMachine]:
        """Every machine this deployment made that still exists, running or not."""
        ...

    async def remove_orphan(self, machine: OwnedMachine) -> None:
        """Remove the compute of a machine no instance owns any more; its data is kept."""
        ...

    async def close(self) -> None:
        """Release clients and connections."""
        ...
