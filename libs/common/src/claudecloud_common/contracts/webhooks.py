"""Webhooks: owned by the webhooks service (users' own endpoints told of their workstation's life).

A user registers an HTTPS endpoint and the lifecycle events it wants; the webhooks service turns
the bus's ``evt.instance.*`` and ``evt.activity.*`` events into deliveries, each signed the way
Stripe signs (``ClaudeCloud-Signature: t=<unix>,v1=<HMAC-SHA256(secret, "<t>.<body>")>``),
retried with backoff, and logged. The gateway asks on the user's behalf over request-reply.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from .base import Event, Query
from .instances import WireSecret

__all__ = [
    "BUDGET_EVENTS",
    "MAX_URL_CHARS",
    "SIGNATURE_HEADER",
    "CreateEndpoint",
    "DeleteEndpoint",
    "DeliveryList",
    "DeliveryStatus",
    "DeliveryView",
    "EndpointCreated",
    "EndpointDeleted",
    "EndpointDisabled",
    "EndpointList",
    "EndpointStatus",
    "EndpointView",
    "ListDeliveries",
    "ListEndpoints",
    "RotateSecret",
    "SendTest",
    "TestSent",
    "WebhookEventType",
    "WebhookSubject",
]

SIGNATURE_HEADER = "ClaudeCloud-Signature"
MAX_URL_CHARS = 2048
BUDGET_EVENTS = "instance.budget_*"
"""Subscribes an endpoint to every budget event, as issue 25 adds them."""


class WebhookSubject(StrEnum):
    ENDPOINT_DISABLED = "evt.webhooks.endpoint_disabled"
    """An endpoint failed every try for the retry window and was turned off (the gateway mails
    its owner)."""

    CREATE = "rpc.webhooks.create"
    LIST = "rpc.webhooks.list"
    DELETE = "rpc.webhooks.delete"
    TEST = "rpc.webhooks.test"
    ROTATE = "rpc.webhooks.rotate"
    DELIVERIES = "rpc.webhooks.deliveries"


class WebhookEventType(StrEnum):
    """What an endpoint can be told."""

    INSTANCE_RUNNING = "instance.running"
    """Created, or woken (``data.woken``), and its agent answers."""
    INSTANCE_PAUSED = "instance.paused"
    INSTANCE_FROZEN = "instance.frozen"
    INSTANCE_FAILED = "instance.failed"
    INSTANCE_IDLE_WARNING = "instance.idle_warning"
    """It is idle and will be frozen or stopped at ``data.deadline_at`` unless used before."""
    INSTANCE_BUDGET_ALERT = "instance.budget_alert"
    """The owner's spend crossed ``data.threshold`` (75, 90, 100) % of their monthly budget."""
    INSTANCE_BUDGET_REACHED = "instance.budget_reached"
    """A hard-stop budget is spent: ``data.instance_ids`` are paused, create and wake refused."""
    INSTANCE_BUDGET_LIFTED = "instance.budget_lifted"
    """The reached budget was raised or removed: ``data.instance_ids`` are woken."""
    TEST = "webhook.test"
    """Sent by ``POST /me/webhooks/{id}/test`` only; nobody subscribes to it."""


class EndpointStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    """Not delivered yet: its next try is due at ``next_attempt_at``."""
    DELIVERED = "delivered"
    FAILED = "failed"
    """Given up: every try failed for the retry window, or its endpoint was disabled."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EndpointView(_Frozen):
    id: UUID
    url: str
    events: list[str]
    status: EndpointStatus
    disabled_reason: str | None = None
    created_at: datetime
    previous_secret_expires_at: datetime | None = None
    """After a rotation: until when the previous secret also signs each delivery."""


class EndpointCreated(EndpointView):
    """An endpoint with its signing secret, shown this once (a create or a rotation)."""

    secret: WireSecret


class EndpointList(_Frozen):
    items: list[EndpointView]


class EndpointDeleted(_Frozen):
    id: UUID


class TestSent(_Frozen):
    event_id: UUID
    delivery_id: UUID


class DeliveryView(_Frozen):
    id: UUID
    event_id: UUID
    """The same on every try of this delivery (receivers deduplicate by it)."""
    event_type: str
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None


class DeliveryList(_Frozen):
    items: list[DeliveryView]
    next_before: datetime | None = None
    """Ask again with ``before`` this for older deliveries; None: that was the last page."""


class CreateEndpoint(Query[EndpointCreated]):
    """Register ``url`` for ``events``; the answer carries the signing secret, once."""

    subject: ClassVar[WebhookSubject] = WebhookSubject.CREATE
    user_id: UUID
    url: str = Field(max_length=MAX_URL_CHARS)
    events: list[str] = Field(min_length=1, max_length=16)


class ListEndpoints(Query[EndpointList]):
    subject: ClassVar[WebhookSubject] = WebhookSubject.LIST
    user_id: UUID


class DeleteEndpoint(Query[EndpointDeleted]):
    subject: ClassVar[WebhookSubject] = WebhookSubject.DELETE
    user_id: UUID
    endpoint_id: UUID


class SendTest(Query[TestSent]):
    """Send a ``webhook.test`` event to the endpoint now (its delivery is logged like any)."""

    subject: ClassVar[WebhookSubject] = WebhookSubject.TEST
    user_id: UUID
    endpoint_id: UUID


class RotateSecret(Query[EndpointCreated]):
    """A new signing secret (answered once); the previous one keeps signing for a while."""

    subject: ClassVar[WebhookSubject] = WebhookSubject.ROTATE
    user_id: UUID
    endpoint_id: UUID


class ListDeliveries(Query[DeliveryList]):
    """An endpoint's deliveries, newest first."""

    subject: ClassVar[WebhookSubject] = WebhookSubject.DELIVERIES
    user_id: UUID
    endpoint_id: UUID
    before: datetime | None = None
    limit: int = Field(default=50, ge=1, le=200)


class EndpointDisabled(Event):
    """The endpoint failed for the whole retry window and was turned off."""

    type: Literal["webhooks.endpoint_disabled"] = "webhooks.endpoint_disabled"
    subject: ClassVar[WebhookSubject] = WebhookSubject.ENDPOINT_DISABLED
    endpoint_id: UUID
    user_id: UUID
    url: str
    reason: str
