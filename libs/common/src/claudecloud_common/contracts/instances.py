"""Instances: owned by the provisioner."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    TypeAdapter,
    computed_field,
)

from claudecloud_agentapi.checkpoint import Checkpoint

from .base import Command, Event, Query
from .providers import Capabilities, ProviderKind, capabilities

__all__ = [
    "LIVE_STATUSES",
    "AnyInstanceEvent",
    "CreateInstance",
    "DestroyInstance",
    "FailureCode",
    "GetInstance",
    "GetInstanceEndpoint",
    "GetLeftOff",
    "GetMachineActivity",
    "HostMemory",
    "InstanceAccepted",
    "InstanceCommand",
    "InstanceCreated",
    "InstanceDestroyed",
    "InstanceEndpoint",
    "InstanceEvent",
    "InstanceFailed",
    "InstanceFrozen",
    "InstanceList",
    "InstancePaused",
    "InstanceRefusal",
    "InstanceRejected",
    "InstanceRequested",
    "InstanceRunning",
    "InstanceStatus",
    "InstanceSubject",
    "InstanceView",
    "InstanceWoken",
    "LeftOff",
    "ListInstances",
    "ListRunning",
    "MachineActivity",
    "MachineActivityList",
    "PauseInstance",
    "PauseReason",
    "RunningInstance",
    "RunningPage",
    "WakeInstance",
    "parse_instance_event",
]


class InstanceSubject(StrEnum):
    CREATE = "cmd.instance.create"
    PAUSE = "cmd.instance.pause"
    WAKE = "cmd.instance.wake"
    DESTROY = "cmd.instance.destroy"

    REQUESTED = "evt.instance.requested"
    CREATED = "evt.instance.created"
    """A mesh instance's server exists (saga step 3); it runs once the mesh is finalized."""
    ACCEPTED = "evt.instance.accepted"
    REJECTED = "evt.instance.rejected"
    RUNNING = "evt.instance.running"
    PAUSED = "evt.instance.paused"
    WOKEN = "evt.instance.woken"
    DESTROYED = "evt.instance.destroyed"
    FAILED = "evt.instance.failed"
    FROZEN = "evt.instance.frozen"
    """Paused with its memory kept: every process is where it was, and a wake thaws it."""
    ALL_EVENTS = "evt.instance.>"

    GET = "rpc.instance.get"
    LIST = "rpc.instance.list"
    ENDPOINT = "rpc.instance.endpoint"
    """Where an instance's agent answers and its secret; only the gateway asks."""
    RUNNING_PAGE = "rpc.instance.running"
    """A page of the running instances' ids, in id order (the activity service resyncs)."""
    CHECKPOINT = "rpc.instance.checkpoint"
    """Where an instance left off: when and why it paused, what its last checkpoint saved."""
    ACTIVITY = "rpc.instance.activity"
    """Provider-level signs of many instances at once, with their agents' addresses and secrets;
    only the activity service asks."""


class InstanceStatus(StrEnum):
    PROVISIONING = "provisioning"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    FROZEN = "frozen"
    """Paused with memory and processes kept (the cgroup freezer): a wake takes milliseconds."""
    WAKING = "waking"
    DESTROYING = "destroying"
    DESTROYED = "destroyed"
    FAILED = "failed"


LIVE_STATUSES: frozenset[InstanceStatus] = frozenset(InstanceStatus) - {
    InstanceStatus.DESTROYED,
    InstanceStatus.FAILED,
}
"""A user has at most one instance in one of these."""


class PauseReason(StrEnum):
    USER = "user"
    IDLE = "idle"
    BILLING = "billing"
    STOPPED = "stopped"
    """Its compute was found stopped outside the platform (reconciliation corrected the row)."""
    MAX_LIFETIME = "max_lifetime"
    """It ran the longest allowed without any human input, however busy its agent was."""
    HOST_MEMORY = "host_memory"
    """It was frozen while the shared host ran short of memory: the longest-frozen are stopped
    first, to give their memory back."""
    BUDGET = "budget"
    """Its owner's hard-stop budget was spent: raising or removing the budget wakes it."""


class FailureCode(StrEnum):
    """Why an instance failed, in a type (``reason`` beside it is the sentence for a person)."""

    PROVIDER_ERROR = "provider_error"
    """The compute provider refused or failed the call (engine error, quota, bad image)."""
    AGENT_UNREACHABLE = "agent_unreachable"
    """The machine started but its agent never answered."""
    STUCK = "stuck"
    """It stayed in a transitional state past the timeout."""
    MESH_STEP_FAILED = "mesh_step_failed"
    """A step of the private network's set-up failed (Hetzner + Netbird)."""
    MACHINE_MISSING = "machine_missing"
    """Its machine was found gone (removed outside the platform); the data volume is kept."""


class InstanceRefusal(StrEnum):
    """Why a command was refused: the machine-readable half of a rejection (``detail`` is the
    sentence). The values are the error names callers answer with."""

    ALREADY_EXISTS = "InstanceAlreadyExists"
    """A create for a user who already has a live instance."""
    ILLEGAL_TRANSITION = "IllegalTransition"
    """The instance's state does not allow the command (wake a running one, pause a paused one)."""
    PAYMENT_REQUIRED = "PaymentRequired"
    """Billing is on and the user has no subscription that allows a create or a wake (402)."""


class InstanceView(BaseModel):
    """An instance as callers see it. Never carries the agent secret."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    user_id: UUID
    status: InstanceStatus
    provider: ProviderKind
    host: str | None = None
    reason: str | None = None
    failure: FailureCode | None = None
    """Why it failed, in a type; None unless ``failed`` (``reason`` says it in a sentence)."""
    pause_reason: PauseReason | None = None
    """Why it is paused or frozen (``user``, ``idle``, ``billing``, ...); None otherwise."""
    condition: str | None = None
    """What is wrong with it while it runs (``agent_unreachable``, ``oom_killed``,
    ``restarting``: the activity service's ``HealthCondition``), None when nothing is."""
    created_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def capabilities(self) -> Capabilities:
        """What its provider's machines can do (keep memory when paused, join a mesh, ...)."""
        return capabilities(self.provider)


# Commands


class CreateInstance(Command):
    type: Literal["instance.create"] = "instance.create"
    subject: ClassVar[InstanceSubject] = InstanceSubject.CREATE
    instance_id: UUID
    user_id: UUID


class PauseInstance(Command):
    type: Literal["instance.pause"] = "instance.pause"
    subject: ClassVar[InstanceSubject] = InstanceSubject.PAUSE
    instance_id: UUID
    reason: PauseReason = PauseReason.USER
    keep_memory: bool = False
    """Freeze it (memory and every process kept; ``frozen``) where its provider can; otherwise,
    and when false, stop it (``paused``: only the volume is kept), with a checkpoint first."""


class WakeInstance(Command):
    type: Literal["instance.wake"] = "instance.wake"
    subject: ClassVar[InstanceSubject] = InstanceSubject.WAKE
    instance_id: UUID


class DestroyInstance(Command):
    type: Literal["instance.destroy"] = "instance.destroy"
    subject: ClassVar[InstanceSubject] = InstanceSubject.DESTROY
    instance_id: UUID
    purge: bool = False
    """Also delete the data volume."""


InstanceCommand = CreateInstance | PauseInstance | WakeInstance | DestroyInstance


# Events


class InstanceEvent(Event):
    """Every lifecycle event names the instance, its owner and the status it now has."""

    type: str
    instance_id: UUID
    user_id: UUID
    status: InstanceStatus
    command_id: UUID | None = None
    """The command that caused this event, so a caller can wait for the outcome of its own."""


class InstanceRequested(InstanceEvent):
    type: Literal["instance.requested"] = "instance.requested"
    subject: ClassVar[InstanceSubject] = InstanceSubject.REQUESTED
    mesh: bool = False


class InstanceCreated(InstanceEvent):
    """A mesh instance's machine exists, enrolled with the setup key; ``subnet`` is the private
    network the mesh route must reach (still ``provisioning`` until the mesh is finalized)."""

    type: Literal["instance.created"] = "instance.created"
    subject: ClassVar[InstanceSubject] = InstanceSubject.CREATED
    host: str | None = None
    subnet: str | None = None


class InstanceAccepted(InstanceEvent):
    """A pause, wake or destroy was admitted; ``status`` is the transitional state it entered."""

    type: Literal["instance.accepted"] = "instance.accepted"
    subject: ClassVar[InstanceSubject] = InstanceSubject.ACCEPTED
    command: str


class InstanceRejected(InstanceEvent):
    """A command was refused: the transition was illegal or the user already has an instance."""

    type: Literal["instance.rejected"] = "instance.rejected"
    subject: ClassVar[InstanceSubject] = InstanceSubject.REJECTED
    command: str
    error: InstanceRefusal
    detail: str
    existing_instance_id: UUID | None = None


class InstanceRunning(InstanceEvent):
    type: Literal["instance.running"] = "instance.running"
    subject: ClassVar[InstanceSubject] = InstanceSubject.RUNNING
    host: str | None = None


class InstancePaused(InstanceEvent):
    type: Literal["instance.paused"] = "instance.paused"
    subject: ClassVar[InstanceSubject] = InstanceSubject.PAUSED
    reason: PauseReason = PauseReason.USER


class InstanceFrozen(InstanceEvent):
    """Paused with its memory kept (``status`` frozen)."""

    type: Literal["instance.frozen"] = "instance.frozen"
    subject: ClassVar[InstanceSubject] = InstanceSubject.FROZEN
    reason: PauseReason = PauseReason.USER


class InstanceWoken(InstanceEvent):
    type: Literal["instance.woken"] = "instance.woken"
    subject: ClassVar[InstanceSubject] = InstanceSubject.WOKEN


class InstanceDestroyed(InstanceEvent):
    type: Literal["instance.destroyed"] = "instance.destroyed"
    subject: ClassVar[InstanceSubject] = InstanceSubject.DESTROYED
    purged: bool = False


class InstanceFailed(InstanceEvent):
    type: Literal["instance.failed"] = "instance.failed"
    subject: ClassVar[InstanceSubject] = InstanceSubject.FAILED
    reason: str
    code: FailureCode = FailureCode.PROVIDER_ERROR
    """Why, in a type (an event from before codes existed reads as a provider error)."""


# Queries (request-reply): each after its answer, which it names as ``Query[Answer]``


class GetInstance(Query[InstanceView]):
    """One instance by id (``InstanceNotFound`` when there is none)."""

    subject: ClassVar[InstanceSubject] = InstanceSubject.GET
    instance_id: UUID


class LeftOff(BaseModel):
    """Where an instance left off: when and why it last paused, and what the checkpoint taken
    before its last stop saved (None when it never stopped, or the checkpoint failed:
    ``checkpoint_error`` says why)."""

    model_config = ConfigDict(frozen=True)

    instance_id: UUID
    status: InstanceStatus
    pause_reason: PauseReason | None = None
    paused_at: datetime | None = None
    """When it was paused or frozen, while it is."""
    checkpoint: Checkpoint | None = None
    checkpoint_error: str | None = None


class GetLeftOff(Query[LeftOff]):
    """Where an instance left off (``InstanceNotFound`` when there is none)."""

    subject: ClassVar[InstanceSubject] = InstanceSubject.CHECKPOINT
    instance_id: UUID


class InstanceList(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[InstanceView]


class ListInstances(Query[InstanceList]):
    """Instances, newest first: one user's or everyone's, or only the live ones."""

    subject: ClassVar[InstanceSubject] = InstanceSubject.LIST
    user_id: UUID | None = None
    live_only: bool = False


WireSecret = Annotated[
    SecretStr, PlainSerializer(lambda s: s.get_secret_value(), return_type=str, when_used="json")
]
"""A secret that crosses the bus in clear (JSON) but stays masked in reprs and Python dumps."""


class InstanceEndpoint(BaseModel):
    """How to reach an instance's agent. Carries the agent secret: never log or return it."""

    model_config = ConfigDict(frozen=True)

    instance_id: UUID
    user_id: UUID
    status: InstanceStatus
    host: str | None = None
    """``ADDR:PORT`` of the agent while the instance runs."""
    agent_secret: WireSecret | None = None


class GetInstanceEndpoint(Query[InstanceEndpoint]):
    """Where an instance's agent answers, and its secret (only the gateway asks)."""

    subject: ClassVar[InstanceSubject] = InstanceSubject.ENDPOINT
    instance_id: UUID


class MachineActivity(BaseModel):
    """What the provider sees of one instance's machine, and where its agent answers.

    Carries the agent secret: never log or return it."""

    model_config = ConfigDict(frozen=True)

    instance_id: UUID
    status: InstanceStatus | None = None
    """The provisioner's status; None when it knows no such instance."""
    running: bool = False
    healthy: bool = False
    processes: int = 0
    cpu_seconds: float | None = None
    """CPU time used since the machine started, when the provider can tell."""
    oom_killed: bool = False
    """The machine's main process was killed for lack of memory (as the provider saw last)."""
    restarting: bool = False
    restarts: int = 0
    """How often the provider restarted the machine."""
    frozen: bool = False
    """Up but frozen: nothing runs or answers in it, which is not a fault."""
    memory_bytes: int | None = None
    """The memory the machine holds now (a frozen one's stays held), when the provider can
    tell."""
    detail: str = ""
    error: str | None = None
    """Why the provider could not be asked about this machine."""
    host: str | None = None
    agent_secret: WireSecret | None = None


class HostMemory(BaseModel):
    """The memory of the host the machines share (Docker), when the provider can tell."""

    model_config = ConfigDict(frozen=True)

    total_bytes: int
    available_bytes: int


class MachineActivityList(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[MachineActivity]
    host_memory: HostMemory | None = None
    """Where machines share one host: its memory now (frozen machines hold theirs)."""
    provider: ProviderKind | None = None
    """The provider that answered (its capabilities say whether a pause can keep memory);
    None from a provisioner that does not say."""


class GetMachineActivity(Query[MachineActivityList]):
    """Ask for the provider's view of these instances (at most a few hundred per request)."""

    subject: ClassVar[InstanceSubject] = InstanceSubject.ACTIVITY
    instance_ids: list[UUID] = Field(max_length=2000)


class RunningInstance(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID
    user_id: UUID


class RunningPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[RunningInstance]


class ListRunning(Query[RunningPage]):
    """Ask for the running instances with an id after ``after``, at most ``limit``, in id order
    (pages stay small however many instances run)."""

    subject: ClassVar[InstanceSubject] = InstanceSubject.RUNNING_PAGE
    after: UUID | None = None
    limit: int = Field(default=1000, ge=1, le=2000)


AnyInstanceEvent = Annotated[
    InstanceRequested
    | InstanceCreated
    | InstanceAccepted
    | InstanceRejected
    | InstanceRunning
    | InstancePaused
    | InstanceFrozen
    | InstanceWoken
    | InstanceDestroyed
    | InstanceFailed,
    Field(discriminator="type"),
]
_EVENT_ADAPTER: TypeAdapter[AnyInstanceEvent] = TypeAdapter(AnyInstanceEvent)


def parse_instance_event(data: bytes | str) -> InstanceEvent:
    """Any ``evt.instance.*`` payload, as its own event class."""
    return _EVENT_ADAPTER.validate_json(data)
