"""A provider call that outlasts the bus's ack wait (a container's boot, a slow cloud): the
command is still made once. Found by make chaos on Docker: JetStream handed a create that was
still booting its container to another worker, which resumed it and called the provider again."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

from nats.aio.client import Client as NatsClient

from claudecloud_common.contracts.instances import CreateInstance, InstanceSubject
from provisioner.providers.fake import read_state
from tests.provisioner_app import ProvisionerFactory
from tests.support import eventually

from .conftest import Events, publish


async def test_a_provider_call_longer_than_the_ack_wait_is_made_once(
    bus: NatsClient, provisioner: ProvisionerFactory, events: Events, tmp_path: Path
) -> None:
    command = CreateInstance(instance_id=uuid4(), user_id=uuid4())
    async with provisioner(bus_ack_wait_seconds=1.0, fake_latency_seconds=3.5):
        await publish(bus, InstanceSubject.CREATE, command)
        await eventually(lambda: events.of(command.instance_id, "instance.running"), timeout=30)
        await eventually(lambda: _drained(bus), timeout=30, what="every delivery finished")

    assert read_state(tmp_path / "fake-provider.jsonl")["calls"] == {"create": 1}
    assert len(events.of(command.instance_id, "instance.running")) == 1


async def _drained(bus: NatsClient) -> bool:
    info = await bus.jetstream().consumer_info("CMD", "provisioner-cmd-instance-create")
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)
