"""Activity's part of the reconciliation check, against the real provisioner (fake provider, its
own database) and fake agents over real HTTP: each kind of drift made on purpose.

The provisioner's rows are written by hand as a running instance whose agent answers at the fake
agents' address (provider ``docker``, so its agent is asked), then broken: never announced to
activity, its agent killed, paused behind activity's back.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from faststream import TestApp
from nats.aio.client import Client as NatsClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from activity.app import Activity, build, policy_of, worker_app
from activity.clock import ManualClock
from activity.service import ActivityService
from activity.settings import ActivitySettings
from claudecloud_common.contracts.activity import ActivityView, GetActivity
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.instances import InstanceFrozen, InstanceStatus
from claudecloud_common.contracts.ops import CheckActivity, CheckReport, DriftKind, Finding
from claudecloud_common.rpc import request, request_on
from provisioner.app import create_app as create_provisioner
from provisioner.settings import ProvisionerSettings
from tests.activity.fakes import FakeAgents
from tests.support import create_database, drop_database, eventually


@dataclass
class Stack:
    activity: Activity
    provisioner_db: str
    agents: FakeAgents
    bus: NatsClient

    async def check(self, *, fix: bool = False) -> CheckReport:
        return await request_on(self.bus, CheckActivity(fix=fix), timeout=20)

    async def sql(self, statement: str, **values: Any) -> None:
        engine = create_async_engine(self.provisioner_db)
        try:
            async with engine.begin() as connection:
                await connection.execute(text(statement), values)
        finally:
            await engine.dispose()

    async def running_instance(self) -> UUID:
        """A running instance in the provisioner's table whose agent answers."""
        instance_id, secret = uuid4(), self.agents.add()[0]
        await self.sql(
            "INSERT INTO instances (id, user_id, status, provider, host, agent_secret,"
            " created_at, updated_at)"
            " VALUES (:id, :user_id, 'running', 'docker', :host, :secret, now(), now())",
            id=instance_id,
            user_id=uuid4(),
            host=self.agents.host,
            secret=secret,
        )
        return instance_id

    async def frozen(self, instance_id: UUID, user_id: UUID) -> None:
        """Activity hears that the instance froze."""
        event = InstanceFrozen(
            instance_id=instance_id, user_id=user_id, status=InstanceStatus.FROZEN
        )
        async with self.activity.db.transaction() as session:
            service = ActivityService(session, policy_of(self.activity.settings))
            await service.apply_event(event, utcnow())

    async def view(self, instance_id: UUID) -> ActivityView:
        query = GetActivity(instance_id=instance_id)
        return await request(self.activity.broker, query, timeout=5)


def kind(report: CheckReport, wanted: DriftKind) -> Finding:
    [found] = [f for f in report.findings if f.kind is wanted]
    return found


@pytest.fixture
async def stack(
    database_url: str, nats_url: str, bus: NatsClient, agents: FakeAgents, tmp_path: Path
) -> AsyncIterator[Stack]:
    provisioner_db = await create_database("cc_check_provisioner")
    settings = ActivitySettings(
        data_dir=tmp_path,
        database_url=database_url,
        nats_url=nats_url,
        agent_timeout_seconds=2.0,
        outbox_poll_seconds=0.5,
    )
    provisioner = ProvisionerSettings(
        data_dir=tmp_path,
        provider="fake",
        database_url=provisioner_db,
        nats_url=nats_url,
        check_interval_seconds=0,
    )
    parts = build(settings, ManualClock())  # time stands still: no poll, no resync but the first
    try:
        async with contextlib.AsyncExitStack() as started:
            await started.enter_async_context(TestApp(worker_app(parts)))
            # The first tick's resync found no provisioner: what follows is left to the check.
            await eventually(lambda: parts.poller.ticks, what="the first tick")
            await started.enter_async_context(TestApp(create_provisioner(provisioner)))
            yield Stack(parts, provisioner_db, agents, bus)
    finally:
        await drop_database(provisioner_db)


async def test_nothing_running_is_clean(stack: Stack) -> None:
    report = await stack.check()
    assert report.service == "activity"
    assert {f.kind for f in report.findings} == {
        DriftKind.USAGE_OPEN_ON_STOPPED,
        DriftKind.RUNNING_NOT_METERED,
        DriftKind.AGENT_NOT_ANSWERING,
    }
    assert [f.count for f in report.findings] == [0, 0, 0]
    assert report.outbox.stale == 0


async def test_a_running_instance_activity_never_heard_of_is_found_and_fix_follows_it(
    stack: Stack,
) -> None:
    instance_id = await stack.running_instance()
    report = await stack.check()
    found = kind(report, DriftKind.RUNNING_NOT_METERED)
    assert (found.count, found.samples) == (1, [str(instance_id)])
    assert kind(report, DriftKind.AGENT_NOT_ANSWERING).count == 0  # its agent answers

    assert kind(await stack.check(fix=True), DriftKind.RUNNING_NOT_METERED).fixed == 1
    assert (await stack.view(instance_id)).status == "running"
    assert kind(await stack.check(), DriftKind.RUNNING_NOT_METERED).count == 0


async def test_a_killed_agent_is_found(stack: Stack) -> None:
    instance_id = await stack.running_instance()
    await stack.check(fix=True)
    assert kind(await stack.check(), DriftKind.AGENT_NOT_ANSWERING).count == 0

    await stack.agents.stop()  # the agent is killed; its instance still says running
    found = kind(await stack.check(), DriftKind.AGENT_NOT_ANSWERING)
    assert (found.count, found.samples, found.fixable) == (1, [str(instance_id)], False)


async def test_usage_open_on_a_paused_instance_is_found_and_fix_closes_it(stack: Stack) -> None:
    instance_id = await stack.running_instance()
    await stack.check(fix=True)  # activity follows it: its usage interval is open
    await stack.sql("UPDATE instances SET status = 'paused' WHERE id = :id", id=instance_id)

    found = kind(await stack.check(), DriftKind.USAGE_OPEN_ON_STOPPED)
    assert (found.count, found.samples) == (1, [str(instance_id)])

    assert kind(await stack.check(fix=True), DriftKind.USAGE_OPEN_ON_STOPPED).fixed == 1
    assert (await stack.view(instance_id)).status == "paused"
    assert kind(await stack.check(), DriftKind.USAGE_OPEN_ON_STOPPED).count == 0


async def test_a_frozen_instance_is_never_an_agent_not_answering_and_its_usage_closes(
    stack: Stack,
) -> None:
    instance_id = await stack.running_instance()
    await stack.check(fix=True)  # activity follows it
    user_id = (await stack.view(instance_id)).user_id
    await stack.sql("UPDATE instances SET status = 'frozen' WHERE id = :id", id=instance_id)
    await stack.frozen(instance_id, user_id)
    await stack.agents.stop()  # a frozen machine's agent cannot answer

    report = await stack.check()
    assert [(f.kind, f.count) for f in report.findings] == [
        (DriftKind.USAGE_OPEN_ON_STOPPED, 0),
        (DriftKind.RUNNING_NOT_METERED, 0),
        (DriftKind.AGENT_NOT_ANSWERING, 0),
    ]

    # Stopped, and activity missed it: its frozen time would be metered on.
    await stack.sql("UPDATE instances SET status = 'paused' WHERE id = :id", id=instance_id)
    found = kind(await stack.check(), DriftKind.USAGE_OPEN_ON_STOPPED)
    assert (found.count, found.samples) == (1, [str(instance_id)])
    assert kind(await stack.check(fix=True), DriftKind.USAGE_OPEN_ON_STOPPED).fixed == 1
    view = await stack.view(instance_id)
    assert (view.status, view.frozen_at) == ("paused", None)
