"""The webhooks service's bus edge: lifecycle events in (each a delivery per endpoint that wants
it), users' questions about their endpoints answered (the gateway asks for them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from faststream.nats import NatsBroker

from claudecloud_common.bus import event_subscriber
from claudecloud_common.contracts.activity import ActivitySubject, InstanceIdleWarning
from claudecloud_common.contracts.base import Event
from claudecloud_common.contracts.instances import AnyInstanceEvent, InstanceSubject
from claudecloud_common.contracts.spend import (
    BudgetAlert,
    BudgetLifted,
    BudgetReached,
    SpendSubject,
)
from claudecloud_common.contracts.webhooks import (
    CreateEndpoint,
    DeleteEndpoint,
    DeliveryList,
    EndpointCreated,
    EndpointDeleted,
    EndpointList,
    ListDeliveries,
    ListEndpoints,
    RotateSecret,
    SendTest,
    TestSent,
)
from claudecloud_common.db import AsyncSession, Database
from claudecloud_common.logging import bind_correlation
from claudecloud_common.rpc import rpc_reply, rpc_subscriber

from .addresses import AddressPolicy
from .delivery import Deliverer
from .sealing import Sealer
from .service import WebhookService
from .settings import WebhooksSettings

T = TypeVar("T")


class Edge:
    """What the handlers share: a unit of work around the service, and the deliverer to wake."""

    def __init__(
        self,
        db: Database,
        settings: WebhooksSettings,
        sealer: Sealer,
        policy: AddressPolicy,
        deliverer: Deliverer,
    ) -> None:
        self.db, self.settings, self.sealer, self.policy = db, settings, sealer, policy
        self.deliverer = deliverer

    async def write(self, work: Callable[[WebhookService], Awaitable[T]]) -> T:
        async with self.db.transaction() as session:
            return await work(self._service(session))

    async def read(self, work: Callable[[WebhookService], Awaitable[T]]) -> T:
        async with self.db.read() as session:
            return await work(self._service(session))

    def _service(self, session: AsyncSession) -> WebhookService:
        return WebhookService(session, self.settings, self.sealer, self.policy)

    async def intake(self, event: Event, consumer: str) -> None:
        with bind_correlation(event.correlation_id):
            if not await self.read(lambda s: s.wanted(event)):
                return  # no endpoint wants it: no unit of work at all
            made = await self.write(lambda s: s.intake(event, consumer))
        if made:
            self.deliverer.wake()


def register(broker: NatsBroker, edge: Edge) -> None:
    """Attach the webhooks service's subscribers to ``broker``."""
    settings = edge.settings

    @event_subscriber(broker, InstanceSubject.ALL_EVENTS, settings=settings)
    async def on_instance(event: AnyInstanceEvent) -> None:
        """An instance changed: endpoints that want to know are sent it."""
        await edge.intake(event, "webhooks.instance")

    @event_subscriber(broker, ActivitySubject.IDLE_WARNING, settings=settings)
    async def on_idle_warning(event: InstanceIdleWarning) -> None:
        """An instance is about to be frozen or stopped for idleness."""
        await edge.intake(event, "webhooks.idle_warning")

    @event_subscriber(broker, SpendSubject.BUDGET_ALERT, settings=settings)
    async def on_budget_alert(event: BudgetAlert) -> None:
        """A user's spend crossed 75, 90 or 100 % of their budget."""
        await edge.intake(event, "webhooks.budget_alert")

    @event_subscriber(broker, SpendSubject.BUDGET_REACHED, settings=settings)
    async def on_budget_reached(event: BudgetReached) -> None:
        """A hard-stop budget is spent: the user's instance is paused."""
        await edge.intake(event, "webhooks.budget_reached")

    @event_subscriber(broker, SpendSubject.BUDGET_LIFTED, settings=settings)
    async def on_budget_lifted(event: BudgetLifted) -> None:
        """A reached budget was raised or removed: what it paused is woken."""
        await edge.intake(event, "webhooks.budget_lifted")

    @rpc_subscriber(broker, CreateEndpoint, settings=settings)
    @rpc_reply
    async def on_create(query: CreateEndpoint) -> EndpointCreated:
        """Register an endpoint; its signing secret is answered this once."""
        return await edge.write(lambda s: s.create(query))

    @rpc_subscriber(broker, ListEndpoints, settings=settings)
    @rpc_reply
    async def on_list(query: ListEndpoints) -> EndpointList:
        """The user's endpoints (never their secrets)."""
        return await edge.read(lambda s: s.of_user(query.user_id))

    @rpc_subscriber(broker, DeleteEndpoint, settings=settings)
    @rpc_reply
    async def on_delete(query: DeleteEndpoint) -> EndpointDeleted:
        """Delete the user's endpoint and its delivery log."""
        await edge.write(lambda s: s.delete(query.user_id, query.endpoint_id))
        return EndpointDeleted(id=query.endpoint_id)

    @rpc_subscriber(broker, SendTest, settings=settings)
    @rpc_reply
    async def on_test(query: SendTest) -> TestSent:
        """Send the endpoint a ``webhook.test`` event now."""
        sent, _ = await edge.write(lambda s: s.send_test(query.user_id, query.endpoint_id))
        edge.deliverer.wake()
        return sent

    @rpc_subscriber(broker, RotateSecret, settings=settings)
    @rpc_reply
    async def on_rotate(query: RotateSecret) -> EndpointCreated:
        """A new secret, answered once; the previous one signs too for a while."""
        return await edge.write(lambda s: s.rotate(query.user_id, query.endpoint_id))

    @rpc_subscriber(broker, ListDeliveries, settings=settings)
    @rpc_reply
    async def on_deliveries(query: ListDeliveries) -> DeliveryList:
        """An endpoint's delivery log, newest first."""
        return await edge.read(lambda s: s.deliveries(query))
