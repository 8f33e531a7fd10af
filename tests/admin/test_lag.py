"""``claude-cloud-admin lag``: every durable consumer and how far behind it is."""

from __future__ import annotations

from uuid import uuid4

from nats.aio.client import Client as NatsClient

from tests.provisioner_app import ProvisionerFactory
from tests.support import eventually

from .conftest import Admin, bare

CONSUMER = "provisioner-cmd-instance-wake"


def pending_of(output: str, consumer: str) -> int | None:
    for line in output.splitlines():
        columns = line.split()
        if len(columns) > 2 and columns[1] == consumer:
            return int(columns[2])
    return None


async def test_lag_shows_commands_waiting_for_a_stopped_service_until_it_catches_up(
    bus: NatsClient, provisioner: ProvisionerFactory, admin: Admin
) -> None:
    async with provisioner():
        pass  # its durable consumers exist from now on, running or not
    for _ in range(3):
        await bus.jetstream().publish("cmd.instance.wake", bare(instance_id=uuid4()))

    stopped = await admin("lag")
    assert stopped.exit_code == 0, stopped.output
    assert stopped.output.splitlines()[0].split()[:3] == ["STREAM", "CONSUMER", "PENDING"]
    assert (pending_of(stopped.output, CONSUMER) or 0) >= 3
    assert pending_of(stopped.output, "provisioner-evt-activity-unhealthy") is not None
    assert "messages held: CMD " in stopped.output

    async with provisioner():

        async def caught_up() -> bool:
            result = await admin("lag")
            return result.exit_code == 0 and pending_of(result.output, CONSUMER) == 0

        await eventually(caught_up, what="the provisioner caught up")
