"""The mesh (Netbird): owned by the netbird service.

The two-phase networking saga of a Hetzner instance, as the netbird service announces it:
``prepared`` (a peer group and a one-off setup key exist; the key travels to the provisioner, which
hands it to the server's cloud-init), ``finalized`` (the route to the instance's subnet and the
policy for its group exist: the instance is reachable over the mesh), ``failed`` (a step failed
and what that step had made was removed; the provisioner compensates its side), and ``torn_down``
(everything made for the instance is gone).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .base import Event, Query
from .instances import WireSecret

__all__ = [
    "AnyMeshEvent",
    "DeviceKey",
    "GetDeviceKey",
    "MeshEvent",
    "MeshFailed",
    "MeshFinalized",
    "MeshPrepared",
    "MeshStep",
    "MeshTornDown",
    "NetbirdSubject",
    "parse_mesh_event",
]


class NetbirdSubject(StrEnum):
    PREPARED = "evt.netbird.prepared"
    FINALIZED = "evt.netbird.finalized"
    FAILED = "evt.netbird.failed"
    TORN_DOWN = "evt.netbird.torn_down"
    ALL_EVENTS = "evt.netbird.>"

    DEVICE_KEY = "rpc.netbird.device_key"
    """A one-off setup key that joins the user's own device to their instance's mesh group
    (the gateway asks, for the connect script)."""


class MeshStep(StrEnum):
    """The saga step a failure happened in."""

    PREPARE = "prepare"
    """Peer group or setup key (before the server exists)."""
    FINALIZE = "finalize"
    """Route or policy (after the server exists)."""


class MeshEvent(Event):
    """Every mesh event names the instance and its owner."""

    type: str
    instance_id: UUID
    user_id: UUID


class MeshPrepared(MeshEvent):
    """The instance's peer group and its one-off setup key exist (saga step 2)."""

    type: Literal["netbird.prepared"] = "netbird.prepared"
    subject: ClassVar[NetbirdSubject] = NetbirdSubject.PREPARED
    group_id: str
    setup_key: WireSecret
    """Enrols exactly one peer into the group, once; expires on its own. Never log it."""


class MeshFinalized(MeshEvent):
    """The route to the instance's subnet and the policy for its group exist (saga step 4)."""

    type: Literal["netbird.finalized"] = "netbird.finalized"
    subject: ClassVar[NetbirdSubject] = NetbirdSubject.FINALIZED
    group_id: str
    route_id: str
    policy_id: str


class MeshFailed(MeshEvent):
    """A saga step failed; what that step made is already removed."""

    type: Literal["netbird.failed"] = "netbird.failed"
    subject: ClassVar[NetbirdSubject] = NetbirdSubject.FAILED
    step: MeshStep
    reason: str


class MeshTornDown(MeshEvent):
    """Policy, route, setup key, peers and group of the instance are gone."""

    type: Literal["netbird.torn_down"] = "netbird.torn_down"
    subject: ClassVar[NetbirdSubject] = NetbirdSubject.TORN_DOWN


class DeviceKey(BaseModel):
    """Enrols one device, once, before ``expires_at``. Never log it."""

    model_config = ConfigDict(frozen=True)

    setup_key: WireSecret
    expires_at: datetime


class GetDeviceKey(Query[DeviceKey]):
    """Ask for a key that joins one device of the instance's owner to its mesh group."""

    subject: ClassVar[NetbirdSubject] = NetbirdSubject.DEVICE_KEY
    instance_id: UUID
    user_id: UUID


AnyMeshEvent = Annotated[
    MeshPrepared | MeshFinalized | MeshFailed | MeshTornDown, Field(discriminator="type")
]
_EVENT_ADAPTER: TypeAdapter[AnyMeshEvent] = TypeAdapter(AnyMeshEvent)


def parse_mesh_event(data: bytes | str) -> MeshEvent:
    """Any ``evt.netbird.*`` payload, as its own event class."""
    return _EVENT_ADAPTER.validate_json(data)
