"""The netbird service's tables: what it made in Netbird, by id, per instance."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import Enum
from sqlmodel import Field, SQLModel

from claudecloud_common.contracts.base import utcnow
from claudecloud_common.db import UTCDateTime


class MeshStatus(StrEnum):
    PREPARING = "preparing"
    """Making the group and the setup key."""
    PREPARED = "prepared"
    """Group and key exist; waiting for the server."""
    FINALIZING = "finalizing"
    """Making the route and the policy."""
    READY = "ready"
    FAILED = "failed"
    """A step failed; what it made was removed (the rest goes when the instance is torn down)."""
    TORN_DOWN = "torn_down"


class Mesh(SQLModel, table=True):
    """The mesh resources of one instance. Ids are recorded the moment Netbird returns them;
    ``pending`` names the call in flight, so a crash mid-call is resumed by adopting what that
    call made (found by the name this row says it used) instead of making it twice."""

    __tablename__ = "meshes"

    instance_id: UUID = Field(primary_key=True)
    user_id: UUID = Field(index=True)
    status: MeshStatus = Field(
        sa_type=Enum(
            MeshStatus, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]
        )
    )
    name: str = Field(max_length=100)
    """The name of everything made for this instance (group, key, route, policy)."""
    pending: str | None = Field(default=None, max_length=20)
    """The Netbird call in flight (``group``, ``setup_key``, ``route``, ``policy``)."""
    group_id: str | None = Field(default=None, max_length=100)
    setup_key_id: str | None = Field(default=None, max_length=100)
    route_id: str | None = Field(default=None, max_length=100)
    policy_id: str | None = Field(default=None, max_length=100)
    subnet: str | None = Field(default=None, max_length=50)
    reason: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SetupKeyRecord(SQLModel, table=True):
    """A setup key this service created; the periodic clean-up deletes only these."""

    __tablename__ = "setup_keys"

    key_id: str = Field(primary_key=True, max_length=100)
    instance_id: UUID = Field(index=True)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
