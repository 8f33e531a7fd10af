"""The webhooks service's tables: users' endpoints (their secrets sealed) and every delivery."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

from sqlalchemy import Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.webhooks import DeliveryStatus, EndpointStatus
from claudecloud_common.db import UTCDateTime


class Endpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoints"

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    user_id: UUID = Field(index=True)
    url: str = Field(max_length=2048)
    events: str = Field(sa_type=Text)
    """The event types (and patterns) it wants, as a JSON list."""
    secret: bytes = Field(sa_type=LargeBinary)
    """The signing secret, sealed (AES-GCM under the service's key, bound to this endpoint)."""
    previous_secret: bytes | None = Field(default=None, sa_type=LargeBinary)
    previous_secret_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(default=EndpointStatus.ACTIVE.value, max_length=10)
    disabled_reason: str | None = Field(default=None, max_length=500)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Delivery(SQLModel, table=True):
    """One event for one endpoint, from its first try to its last. Its body is fixed when it is
    made, so every try sends the same bytes (and the same event id)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
    )

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    endpoint_id: UUID
    user_id: UUID
    event_id: UUID
    event_type: str = Field(max_length=60)
    body: bytes = Field(sa_type=LargeBinary)
    status: str = Field(default=DeliveryStatus.PENDING.value, max_length=10)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When it is tried next (a try in flight holds it a little ahead: its lease)."""
    give_up_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
