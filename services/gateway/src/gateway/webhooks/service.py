"""Users' webhooks in terms of the bus: the webhooks service's ``rpc.webhooks.*`` queries, each
asked for the signed-in user only."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar
from uuid import UUID

import httpx
from faststream.nats import NatsBroker
from pydantic import BaseModel

from claudecloud_common.contracts.base import Query
from claudecloud_common.contracts.webhooks import (
    CreateEndpoint,
    DeleteEndpoint,
    DeliveryList,
    EndpointCreated,
    EndpointList,
    ListDeliveries,
    ListEndpoints,
    RotateSecret,
    SendTest,
    TestSent,
)
from claudecloud_common.rpc import request

R = TypeVar("R", bound=BaseModel)


def without_query(url: str) -> str:
    """An endpoint's URL as the audit log keeps it: its query string (where receivers often
    take a token) left out."""
    try:
        return str(httpx.URL(url).copy_with(query=None, fragment=None))
    except httpx.InvalidURL:
        return "(an unreadable URL)"


class WebhooksGateway:
    def __init__(self, broker: NatsBroker, *, rpc_timeout: float) -> None:
        self.broker = broker
        self.rpc_timeout = rpc_timeout

    async def create(self, user_id: UUID, url: str, events: list[str]) -> EndpointCreated:
        # Registration resolves the URL's name: give it longer than a read.
        query = CreateEndpoint(user_id=user_id, url=url, events=events)
        return await self._ask(query, slow=True)

    async def list(self, user_id: UUID) -> EndpointList:
        return await self._ask(ListEndpoints(user_id=user_id))

    async def delete(self, user_id: UUID, endpoint_id: UUID) -> None:
        await self._ask(DeleteEndpoint(user_id=user_id, endpoint_id=endpoint_id))

    async def test(self, user_id: UUID, endpoint_id: UUID) -> TestSent:
        return await self._ask(SendTest(user_id=user_id, endpoint_id=endpoint_id))

    async def rotate(self, user_id: UUID, endpoint_id: UUID) -> EndpointCreated:
        return await self._ask(RotateSecret(user_id=user_id, endpoint_id=endpoint_id))

    async def deliveries(
        self, user_id: UUID, endpoint_id: UUID, *, before: datetime | None, limit: int
    ) -> DeliveryList:
        query = ListDeliveries(user_id=user_id, endpoint_id=endpoint_id, before=before, limit=limit)
        return await self._ask(query)

    async def _ask(self, query: Query[R], *, slow: bool = False) -> R:
        timeout = self.rpc_timeout * (5 if slow else 1)
        return await request(self.broker, query, timeout=timeout)
