"""Exactly-once effects on at-least-once delivery, on the real NATS and Postgres."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from claudecloud_common.contracts.instances import (
    CreateInstance,
    InstanceRunning,
    InstanceStatus,
    InstanceSubject,
)
from claudecloud_common.db import Database
from claudecloud_common.outbox import add_to_outbox
from provisioner.providers.fake import read_state
from tests.provisioner_app import ProvisionerFactory
from tests.support import eventually, stream_messages

from .conftest import Events, publish


def fake_calls(data_dir: Path) -> dict[str, int]:
    calls: dict[str, int] = read_state(data_dir / "fake-provider.jsonl")["calls"]
    return calls


async def test_an_unparseable_message_is_dead_lettered_and_the_consumer_goes_on(
    bus: NatsClient, provisioner: ProvisionerFactory, events: Events, nats_url: str
) -> None:
    poison_id = f"poison-{uuid4()}"
    async with provisioner():
        await publish(bus, InstanceSubject.CREATE, b'{"not": "a command"', msg_id=poison_id)

        async def dead_letter() -> list[Msg]:
            found = await stream_messages(nats_url, "DLQ", "dlq.cmd.instance.create")
            return [
                m for m in found if m.headers and m.headers["Nats-Msg-Id"] == f"dlq-{poison_id}"
            ]

        letters = await eventually(dead_letter, what="the dead letter")
        assert letters[0].data == b'{"not": "a command"'
        assert "ValidationError" in letters[0].headers["Dlq-Error"]

        command = CreateInstance(instance_id=uuid4(), user_id=uuid4())
        await publish(bus, InstanceSubject.CREATE, command)
        await eventually(
            lambda: events.of(command.instance_id, "instance.running"),
            what="the next command handled",
        )


async def test_the_same_message_twice_changes_nothing(
    bus: NatsClient, provisioner: ProvisionerFactory, events: Events, tmp_path: Path
) -> None:
    command = CreateInstance(instance_id=uuid4(), user_id=uuid4())
    async with provisioner():
        await publish(bus, InstanceSubject.CREATE, command)
        await publish(bus, InstanceSubject.CREATE, command)  # dropped by JetStream (same id)
        await eventually(lambda: events.of(command.instance_id, "instance.running"))
        # Past the de-duplication window it arrives again: the inbox ignores it.
        await publish(bus, InstanceSubject.CREATE, command, msg_id=f"late-{command.id}")
        await _handled_everything(bus)

    assert fake_calls(tmp_path) == {"create": 1}
    assert len(events.of(command.instance_id, "instance.running")) == 1
    assert events.of(command.instance_id, "instance.rejected") == []


async def test_transient_provider_failures_are_retried_until_they_pass(
    bus: NatsClient, provisioner: ProvisionerFactory, events: Events
) -> None:
    command = CreateInstance(instance_id=uuid4(), user_id=uuid4())
    async with provisioner(fake_transient_failures=2):
        await publish(bus, InstanceSubject.CREATE, command)
        await eventually(lambda: events.of(command.instance_id, "instance.running"))


async def test_when_retries_run_out_the_instance_fails_with_the_reason(
    bus: NatsClient, provisioner: ProvisionerFactory, events: Events
) -> None:
    command = CreateInstance(instance_id=uuid4(), user_id=uuid4())
    async with provisioner(fake_transient_failures=50):
        await publish(bus, InstanceSubject.CREATE, command)
        failed = await eventually(
            lambda: events.of(command.instance_id, "instance.failed"), timeout=30
        )
    assert "transiently unavailable" in failed[0]["reason"]


async def test_a_permanent_provider_failure_fails_the_instance_at_once(
    bus: NatsClient, provisioner: ProvisionerFactory, events: Events
) -> None:
    command = CreateInstance(instance_id=uuid4(), user_id=uuid4())
    async with provisioner(fake_fail_operations=frozenset({"create"})):
        await publish(bus, InstanceSubject.CREATE, command)
        failed = await eventually(lambda: events.of(command.instance_id, "instance.failed"))
    assert failed[0]["reason"] == "fake provider: create is set to fail"


async def test_concurrent_creates_for_one_user_make_exactly_one_instance(
    bus: NatsClient, provisioner: ProvisionerFactory, events: Events
) -> None:
    user = uuid4()
    commands = [CreateInstance(instance_id=uuid4(), user_id=user) for _ in range(20)]
    async with provisioner(fake_latency_seconds=0.05):
        for command in commands:
            await publish(bus, InstanceSubject.CREATE, command)

        async def all_answered() -> bool:
            answered = [
                e
                for c in commands
                for e in events.of(c.instance_id)
                if e["type"] in ("instance.running", "instance.rejected")
            ]
            return len(answered) == 20

        await eventually(all_answered, timeout=30)

    running = [e for c in commands for e in events.of(c.instance_id, "instance.running")]
    rejected = [e for c in commands for e in events.of(c.instance_id, "instance.rejected")]
    assert len(running) == 1
    assert len(rejected) == 19
    assert {r["existing_instance_id"] for r in rejected} == {running[0]["instance_id"]}


async def test_an_event_committed_before_a_crash_is_published_after_restart(
    bus: NatsClient, provisioner: ProvisionerFactory, database_url: str, events: Events
) -> None:
    # What a crash between commit and publish leaves behind: a committed outbox row, nothing sent.
    async with provisioner():
        pass  # migrations applied
    event = InstanceRunning(instance_id=uuid4(), user_id=uuid4(), status=InstanceStatus.RUNNING)
    db = Database(database_url)
    async with db.transaction(notify=False) as session:
        add_to_outbox(session, event)
    await db.dispose()
    assert events.of(event.instance_id) == []

    async with provisioner():  # the restart
        await eventually(lambda: events.of(event.instance_id, "instance.running"))


async def _handled_everything(bus: NatsClient) -> None:
    js = bus.jetstream()

    async def drained() -> bool:
        info = await js.consumer_info("CMD", "provisioner-cmd-instance-create")
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)

    await eventually(drained, what="the create consumer drained")
