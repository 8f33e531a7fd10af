"""``rpc.instance.activity`` on the real provisioner (fake provider): many instances per request,
each with the provider's view and where its agent answers; unknown ids answered as unknown."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from faststream import TestApp
from nats.aio.client import Client as NatsClient

from claudecloud_common.bus import make_broker
from claudecloud_common.contracts.instances import (
    CreateInstance,
    GetInstance,
    GetMachineActivity,
    InstanceStatus,
    ListRunning,
    PauseInstance,
)
from claudecloud_common.rpc import RemoteError, request
from provisioner.app import create_app
from provisioner.settings import ProvisionerSettings
from tests.support import create_database, drop_database, eventually


@pytest.fixture
async def provisioner_settings(
    nats_url: str, bus: NatsClient, tmp_path: Path
) -> AsyncIterator[ProvisionerSettings]:
    url = await create_database("cc_activity_prov")
    settings = ProvisionerSettings(
        data_dir=tmp_path,
        provider="fake",
        database_url=url,
        nats_url=nats_url,
        outbox_poll_seconds=0.5,
        reconcile_on_start=False,
    )
    async with TestApp(create_app(settings)):
        yield settings
    await drop_database(url)


async def test_many_instances_in_one_request(
    provisioner_settings: ProvisionerSettings, bus: NatsClient
) -> None:
    broker = make_broker(provisioner_settings)
    await broker.connect()
    try:
        ids = []
        for _ in range(3):
            command = CreateInstance(instance_id=uuid.uuid4(), user_id=uuid.uuid4())
            await bus.jetstream().publish(
                str(command.subject),
                command.model_dump_json().encode(),
                headers={"Nats-Msg-Id": str(command.id)},
            )
            ids.append(command.instance_id)

        async def status(instance_id: uuid.UUID) -> InstanceStatus | None:
            try:
                view = await request(broker, GetInstance(instance_id=instance_id), timeout=5)
            except RemoteError:
                return None  # not admitted yet
            return view.status

        async def reaches(instance_id: uuid.UUID, expected: InstanceStatus) -> bool:
            return await status(instance_id) is expected

        for instance_id in ids:
            await eventually(
                functools.partial(reaches, instance_id, InstanceStatus.RUNNING), what="running"
            )
        pause = PauseInstance(instance_id=ids[2])
        await bus.jetstream().publish(
            str(pause.subject),
            pause.model_dump_json().encode(),
            headers={"Nats-Msg-Id": str(pause.id)},
        )
        await eventually(lambda: reaches(ids[2], InstanceStatus.PAUSED), what="paused")

        unknown = uuid.uuid4()
        found = await request(broker, GetMachineActivity(instance_ids=[*ids, unknown]), timeout=10)
        by_id = {item.instance_id: item for item in found.items}
        assert set(by_id) == {*ids, unknown}
        for running in ids[:2]:
            item = by_id[running]
            assert item.status is InstanceStatus.RUNNING
            assert item.running
            assert item.healthy
            assert item.host
            assert item.agent_secret is not None
            assert item.agent_secret.get_secret_value()
        paused = by_id[ids[2]]
        assert paused.status is InstanceStatus.PAUSED
        assert paused.host is None
        assert paused.agent_secret is None
        assert by_id[unknown].status is None

        # The running ones, a page of one at a time, in id order (activity's resync).
        pages, after = [], None
        while True:
            page = await request(broker, ListRunning(after=after, limit=1), timeout=10)
            if not page.items:
                break
            pages.append(page.items)
            after = page.items[-1].id
        assert [len(items) for items in pages] == [1, 1]
        assert [items[0].id for items in pages] == sorted(ids[:2])
    finally:
        await broker.stop()
