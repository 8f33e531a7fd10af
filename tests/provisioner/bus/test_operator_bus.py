"""The bus as an operator uses it: the NATS CLI publishes bare JSON with no headers, and asks
rpc subjects the same way; both must work."""

from __future__ import annotations

import json
from uuid import uuid4

from nats.aio.client import Client as NatsClient

from tests.provisioner_app import ProvisionerFactory
from tests.support import eventually

from .conftest import Events


async def test_a_bare_json_create_is_handled_once(
    bus: NatsClient, provisioner: ProvisionerFactory, events: Events
) -> None:
    instance_id, user_id = uuid4(), uuid4()
    bare = json.dumps({"instance_id": str(instance_id), "user_id": str(user_id)}).encode()
    async with provisioner():
        await bus.jetstream().publish("cmd.instance.create", bare)  # as `nats pub` sends it
        await eventually(lambda: events.of(instance_id, "instance.running"), what="running")

        reply = await bus.request(  # as `nats req` asks it
            "rpc.instance.get", json.dumps({"instance_id": str(instance_id)}).encode(), timeout=5
        )
    answer = json.loads(reply.data)
    assert answer["error"] is None
    assert answer["result"]["status"] == "running"
    assert answer["result"]["user_id"] == str(user_id)


async def test_a_bare_json_pause_redelivered_resumes_as_the_same_command(
    bus: NatsClient, provisioner: ProvisionerFactory, events: Events
) -> None:
    # Every provider call fails once, retryably: the pause is delivered a second time and must
    # be recognised as the command already under way, though it carries no id of its own.
    instance_id, user_id = uuid4(), uuid4()
    create = json.dumps({"instance_id": str(instance_id), "user_id": str(user_id)}).encode()
    pause = json.dumps({"instance_id": str(instance_id)}).encode()
    async with provisioner(fake_transient_failures=1):
        await bus.jetstream().publish("cmd.instance.create", create)
        await eventually(lambda: events.of(instance_id, "instance.running"), what="running")
        await bus.jetstream().publish("cmd.instance.pause", pause)
        await eventually(lambda: events.of(instance_id, "instance.paused"), what="paused")
    accepted = events.of(instance_id, "instance.accepted")
    assert len(accepted) == 1
    assert events.of(instance_id, "instance.rejected") == []
