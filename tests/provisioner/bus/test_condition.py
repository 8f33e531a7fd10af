"""A running instance shows what the activity service found wrong with it, next to its status,
and stops showing it when it recovers or stops; older news never overwrites newer."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from nats.aio.client import Client as NatsClient

from claudecloud_common.contracts.activity import (
    HealthCondition,
    InstanceRecovered,
    InstanceUnhealthy,
)
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.instances import CreateInstance, PauseInstance
from tests.provisioner_app import ProvisionerFactory
from tests.support import eventually

from .conftest import Events, publish


async def view(bus: NatsClient, instance_id: UUID) -> dict[str, Any]:
    reply = await bus.request(
        "rpc.instance.get", json.dumps({"instance_id": str(instance_id)}).encode(), timeout=5
    )
    result: dict[str, Any] = json.loads(reply.data)["result"]
    return result


async def test_a_condition_shows_with_the_instance_until_it_recovers_or_stops(
    bus: NatsClient, provisioner: ProvisionerFactory, events: Events
) -> None:
    instance_id, user_id = uuid4(), uuid4()
    async with provisioner():
        create = CreateInstance(instance_id=instance_id, user_id=user_id)
        await publish(bus, str(create.subject), create)
        await eventually(lambda: events.of(instance_id, "instance.running"), what="running")
        assert (await view(bus, instance_id))["condition"] is None

        seen = utcnow()
        sick = InstanceUnhealthy(
            instance_id=instance_id,
            user_id=user_id,
            condition=HealthCondition.AGENT_UNREACHABLE,
            detail="3 polls failed",
            occurred_at=seen,
        )
        await publish(bus, str(sick.subject), sick)

        async def condition() -> Any:
            return (await view(bus, instance_id))["condition"]

        assert await eventually(condition, what="the condition shown") == "agent_unreachable"

        well = InstanceRecovered(
            instance_id=instance_id,
            user_id=user_id,
            condition=HealthCondition.AGENT_UNREACHABLE,
            occurred_at=seen + timedelta(seconds=1),
        )
        late = InstanceUnhealthy(
            instance_id=instance_id,
            user_id=user_id,
            condition=HealthCondition.OOM_KILLED,
            detail="older news",
            occurred_at=seen - timedelta(seconds=1),
        )
        await publish(bus, str(well.subject), well)
        await eventually(lambda: _is_none(bus, instance_id), what="the condition cleared")
        await publish(bus, str(late.subject), late)
        again = InstanceUnhealthy(
            instance_id=instance_id,
            user_id=user_id,
            condition=HealthCondition.RESTARTING,
            detail="restarted",
            occurred_at=seen + timedelta(seconds=2),
        )
        await publish(bus, str(again.subject), again)
        # The newest news wins; the older OOM report, handled before or after it, never shows.
        assert await eventually(condition, what="the newest condition") == "restarting"

        pause = PauseInstance(instance_id=instance_id)
        await publish(bus, str(pause.subject), pause)
        await eventually(lambda: events.of(instance_id, "instance.paused"), what="paused")
        assert (await view(bus, instance_id))["condition"] is None


async def _is_none(bus: NatsClient, instance_id: UUID) -> bool:
    return (await view(bus, instance_id))["condition"] is None
