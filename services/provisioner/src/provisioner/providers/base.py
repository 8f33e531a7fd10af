"""What every provider offers. Every call is idempotent: creating what exists returns it,
pausing what is stopped succeeds, destroying what is gone succeeds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from uuid import UUID

from pydantic import SecretStr

from claudecloud_common.contracts.instances import FailureCode, HostMemory
from claudecloud_common.contracts.providers import ProviderKind


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
    disk_gb: int | None = None
    """The data volume's size from the plan, where the provider sizes volumes (kubernetes)."""
    agent_secret: SecretStr | None = None
    """The secret its agent must accept, where the provisioner chose it (docker: given to the
    agent in a file before it starts); None: the provider makes one."""
    slot_id: UUID | None = None
    """The warm pool slot the machine was claimed from, if it was: its machine and data volume
    are the slot's, for good."""


@dataclass(frozen=True)
class Machine:
    provider_id: str
    running: bool
    """Up: its processes exist (frozen ones too)."""
    host: str | None = None
    agent_secret: SecretStr | None = None
    network: str | None = None
    """The machine's private subnet, where it has one (hetzner: the mesh route's target)."""
    frozen: bool = False
    """Up, but its processes are frozen (paused with memory kept)."""


@dataclass(frozen=True)
class Activity:
    running: bool
    healthy: bool
    frozen: bool = False
    """Up but frozen: nothing runs, nothing can answer, and that is not a fault."""
    processes: int = 0
    details: dict[str, str] = field(default_factory=dict)
    cpu_seconds: float | None = None
    """CPU time used since the machine started, when the backend can tell."""
    oom_killed: bool = False
    """The machine's main process was last killed for lack of memory."""
    restarting: bool = False
    restarts: int = 0
    """How often the backend restarted the machine."""
    memory_bytes: int | None = None
    """The memory the machine holds now, when the backend can tell."""


@dataclass(frozen=True)
class OwnedMachine:
    """A machine this deployment made, as the backend labels it (for reconciliation)."""

    provider_id: str
    instance_id: UUID | None
    """None on a warm pool's machine: its slot says whose it is (if anyone's yet)."""
    user_id: UUID | None
    running: bool
    slot_id: UUID | None = None


def read_meminfo(path: Path = Path("/proc/meminfo")) -> HostMemory | None:
    """This host's memory, from the kernel (None where it cannot be read)."""
    try:
        fields = dict(line.split(":", 1) for line in path.read_text().splitlines() if ":" in line)
        kib = {name: int(fields[name].split()[0]) for name in ("MemTotal", "MemAvailable")}
    except (OSError, KeyError, ValueError, IndexError):
        return None
    return HostMemory(
        total_bytes=kib["MemTotal"] * 1024, available_bytes=kib["MemAvailable"] * 1024
    )


class ProviderError(Exception):
    """A provider call failed. ``retryable`` says whether trying again may help; ``failure``
    is the code an instance that fails of it records."""

    retryable: bool = False
    failure: FailureCode = FailureCode.PROVIDER_ERROR


class ProviderUnavailable(ProviderError):
    """The backend (engine, cloud API) did not answer; the call is retried with backoff."""

    retryable = True


class AgentUnreachable(ProviderUnavailable):
    """The machine started but its agent did not answer in time (tried again, then failed)."""

    failure = FailureCode.AGENT_UNREACHABLE


class ProviderFailure(ProviderError):
    """The call cannot succeed as asked (missing image, quota, bad configuration)."""


class WarmPool(Protocol):
    """Machines started ahead of any create, for a create to claim (providers whose
    capabilities say ``warm_pool``)."""

    async def image_id(self) -> str:
        """What new machines are made from now: a slot made from another is stale."""
        ...

    async def start(self, slot_id: UUID, secret: SecretStr) -> Machine:
        """Make and start a slot's machine, with no user's anything; once its agent answers
        ``secret``."""
        ...

    async def adopt(self, slot_id: UUID, ref: MachineRef, pool_secret: SecretStr) -> Machine:
        """Make the slot's running machine ``ref``'s (its name, size and secret); idempotent."""
        ...

    async def remove(self, slot_id: UUID) -> None:
        """Remove an unclaimed slot's machine and volume."""
        ...


class Provider(Protocol):
    name: ProviderKind

    @property
    def pool(self) -> WarmPool | None:
        """The warm pool, where the provider keeps one (its capabilities say ``warm_pool``)."""
        ...

    async def create(self, ref: MachineRef) -> Machine:
        """Make (or find) the user's machine and its data volume, started."""
        ...

    async def pause(self, ref: MachineRef, *, keep_memory: bool) -> None:
        """Stop compute and keep the data; with ``keep_memory`` (only where the provider's
        capabilities say it keeps memory) freeze it instead: every process and its memory
        stay, nothing runs."""
        ...

    async def wake(self, ref: MachineRef) -> Machine:
        """Start the paused machine again, or thaw the frozen one."""
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

    async def host_memory(self) -> HostMemory | None:
        """The memory of the host the machines share, or None where they share none (a
        server each) or the provider cannot tell."""
        ...

    async def remove_orphan(self, machine: OwnedMachine) -> None:
        """Remove the compute of a machine no instance owns any more; its data is kept."""
        ...

    async def close(self) -> None:
        """Release clients and connections."""
        ...
