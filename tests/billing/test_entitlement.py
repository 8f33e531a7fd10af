"""With billing on, only a paying user gets an instance; with billing off, instances are free."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient

from claudecloud_common.contracts.instances import (
    CreateInstance,
    InstanceRefusal,
    InstanceRejected,
    InstanceStatus,
)
from gateway.instances.errors import refused
from tests.billing.conftest import instances
from tests.provisioner_app import ProvisionerFactory
from tests.support import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def instance_events(bus: NatsClient) -> AsyncIterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    async def collect(msg: Any) -> None:
        seen.append(json.loads(msg.data))

    sub = await bus.subscribe("evt.instance.>", cb=collect)
    yield seen
    await sub.unsubscribe()


async def test_create_without_a_subscription_is_refused_402_with_what_to_do(
    bus: NatsClient, provisioner: ProvisionerFactory, instance_events: list[dict[str, Any]]
) -> None:
    user = uuid.uuid4()
    command = CreateInstance(instance_id=uuid.uuid4(), user_id=user)
    async with provisioner(billing_enabled=True):
        await bus.jetstream().publish(
            str(command.subject),
            command.model_dump_json().encode(),
            headers={"Nats-Msg-Id": str(command.id)},
        )
        found = await eventually(
            lambda: [e for e in instance_events if e["user_id"] == str(user)],
            what="the provisioner's answer",
        )
        assert not (await instances(bus, user)).items

    rejection = InstanceRejected.model_validate(found[0])
    assert rejection.error is InstanceRefusal.PAYMENT_REQUIRED
    assert "/billing/checkout" in rejection.detail
    as_http = refused(rejection)  # what the gateway answers POST /instances with
    assert as_http.status_code == 402
    assert as_http.to_body()["error"] == "PaymentRequired"


async def test_with_billing_off_instances_are_free(
    bus: NatsClient, provisioner: ProvisionerFactory
) -> None:
    user = uuid.uuid4()
    command = CreateInstance(instance_id=uuid.uuid4(), user_id=user)
    async with provisioner(billing_enabled=False):
        await bus.jetstream().publish(
            str(command.subject),
            command.model_dump_json().encode(),
            headers={"Nats-Msg-Id": str(command.id)},
        )
        running = await eventually(lambda: _statuses(bus, user), what="the free instance running")
    assert running == [InstanceStatus.RUNNING]


async def _statuses(bus: NatsClient, user: uuid.UUID) -> list[InstanceStatus]:
    found = [i.status for i in (await instances(bus, user)).items]
    return found if InstanceStatus.RUNNING in found else []
