"""The webhooks rules: users' endpoints (registered, listed, deleted, tested, their secrets
rotated) and the deliveries each lifecycle event makes. Never commits."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from uuid import UUID, uuid4

from pydantic import SecretStr

from claudecloud_common.contracts.base import Event, utcnow
from claudecloud_common.contracts.webhooks import (
    CreateEndpoint,
    DeliveryList,
    DeliveryStatus,
    DeliveryView,
    EndpointCreated,
    EndpointList,
    EndpointStatus,
    EndpointView,
    ListDeliveries,
    TestSent,
    WebhookEventType,
)
from claudecloud_common.db import AsyncSession
from claudecloud_common.inbox import already_processed, mark_processed

from .addresses import AddressPolicy, checked
from .errors import EndpointNotFound, TooManyEndpoints
from .events import Outgoing, body, outgoing, subscribed, valid
from .models import Delivery, Endpoint
from .repository import DeliveryRepository, EndpointRepository
from .sealing import Sealer
from .settings import WebhooksSettings

SECRET_PREFIX = "whsec_"  # noqa: S105 (what a secret starts with, as Stripe's do)


class WebhookService:
    def __init__(
        self,
        session: AsyncSession,
        settings: WebhooksSettings,
        sealer: Sealer,
        policy: AddressPolicy,
    ) -> None:
        self.session = session
        self.settings = settings
        self.sealer = sealer
        self.policy = policy
        self.endpoints = EndpointRepository(session)
        self.sent = DeliveryRepository(session)

    # Endpoints

    async def create(self, query: CreateEndpoint) -> EndpointCreated:
        """Register the endpoint; its secret is answered this once."""
        events = valid(query.events)
        url = await checked(query.url, self.policy, https_required=self.settings.https_required)
        if (
            await self.endpoints.count_of_user(query.user_id)
            >= self.settings.max_endpoints_per_user
        ):
            raise TooManyEndpoints(
                f"at most {self.settings.max_endpoints_per_user} endpoints: delete one first"
            )
        secret = new_secret()
        endpoint = Endpoint(
            user_id=query.user_id, url=str(url), events=json.dumps(events), secret=b""
        )
        endpoint.secret = self.sealer.seal(endpoint.id, secret)
        self.endpoints.add(endpoint)
        return EndpointCreated(**endpoint_view(endpoint).model_dump(), secret=secret)

    async def of_user(self, user_id: UUID) -> EndpointList:
        return EndpointList(items=[endpoint_view(e) for e in await self.endpoints.of_user(user_id)])

    async def delete(self, user_id: UUID, endpoint_id: UUID) -> Endpoint:
        endpoint = await self._owned(user_id, endpoint_id, lock=True)
        await self.endpoints.delete(endpoint)
        return endpoint

    async def rotate(self, user_id: UUID, endpoint_id: UUID) -> EndpointCreated:
        """A new secret; the one it replaces keeps signing for the rotation's grace period."""
        endpoint = await self._owned(user_id, endpoint_id, lock=True)
        now = utcnow()
        secret = new_secret()
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = now + timedelta(
            seconds=self.settings.rotation_grace_seconds
        )
        endpoint.secret = self.sealer.seal(endpoint.id, secret)
        endpoint.updated_at = now
        self.session.add(endpoint)
        return EndpointCreated(**endpoint_view(endpoint).model_dump(), secret=secret)

    async def send_test(self, user_id: UUID, endpoint_id: UUID) -> tuple[TestSent, Delivery]:
        """A ``webhook.test`` delivery to the endpoint, made now (sent at once)."""
        endpoint = await self._owned(user_id, endpoint_id)
        event = Outgoing(
            event_id=uuid4(),
            user_id=user_id,
            type=WebhookEventType.TEST.value,
            occurred_at=utcnow(),
            data={"endpoint_id": str(endpoint.id), "message": "a test event from ClaudeCloud"},
        )
        delivery = self._deliver(endpoint, event)
        return TestSent(event_id=event.event_id, delivery_id=delivery.id), delivery

    async def deliveries(self, query: ListDeliveries) -> DeliveryList:
        await self._owned(query.user_id, query.endpoint_id)
        rows = await self.sent.page(query.endpoint_id, before=query.before, limit=query.limit)
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        return DeliveryList(
            items=[delivery_view(r) for r in rows],
            next_before=rows[-1].created_at if more and rows else None,
        )

    async def _owned(self, user_id: UUID, endpoint_id: UUID, *, lock: bool = False) -> Endpoint:
        endpoint = await self.endpoints.owned(user_id, endpoint_id, lock=lock)
        if endpoint is None:
            raise EndpointNotFound(f"no webhook endpoint {endpoint_id}")
        return endpoint

    # Events in, deliveries out

    async def intake(self, event: Event, consumer: str) -> list[Delivery]:
        """The deliveries ``event`` makes (one per active endpoint of its user that wants it),
        once however often it is delivered. An event that makes none (most users have no
        endpoint) writes nothing: one read, no commit, for every lifecycle event on the bus."""
        found = outgoing(event)
        if found is None:
            return []
        wanting = await self._wanting(found)
        if not wanting or await already_processed(self.session, event.id, consumer):
            return []
        mark_processed(self.session, event.id, consumer)
        made = []
        for endpoint in wanting:
            if not await self.sent.exists(endpoint.id, found.event_id):
                made.append(self._deliver(endpoint, found))
        return made

    async def wanted(self, event: Event) -> bool:
        """Whether any endpoint wants ``event`` (a read: most events are wanted by none)."""
        found = outgoing(event)
        return found is not None and bool(await self._wanting(found))

    async def _wanting(self, event: Outgoing) -> list[Endpoint]:
        return [
            endpoint
            for endpoint in await self.endpoints.active_of_user(event.user_id)
            if subscribed(json.loads(endpoint.events), event.type)
        ]

    def _deliver(self, endpoint: Endpoint, event: Outgoing) -> Delivery:
        now = utcnow()
        delivery = Delivery(
            endpoint_id=endpoint.id,
            user_id=endpoint.user_id,
            event_id=event.event_id,
            event_type=event.type,
            body=body(event, limit=self.settings.max_body_bytes),
            next_attempt_at=now,
            give_up_at=now + timedelta(seconds=self.settings.retry_window_seconds),
            created_at=now,
        )
        self.sent.add(delivery)
        return delivery


def new_secret() -> SecretStr:
    return SecretStr(SECRET_PREFIX + secrets.token_urlsafe(32))


def endpoint_view(endpoint: Endpoint) -> EndpointView:
    expires = endpoint.previous_secret_expires_at
    return EndpointView(
        id=endpoint.id,
        url=endpoint.url,
        events=json.loads(endpoint.events),
        status=EndpointStatus(endpoint.status),
        disabled_reason=endpoint.disabled_reason,
        created_at=endpoint.created_at,
        previous_secret_expires_at=expires if expires and expires > utcnow() else None,
    )


def delivery_view(row: Delivery) -> DeliveryView:
    pending = row.status == DeliveryStatus.PENDING.value
    return DeliveryView(
        id=row.id,
        event_id=row.event_id,
        event_type=row.event_type,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at if pending else None,
        last_attempt_at=row.last_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
    )
