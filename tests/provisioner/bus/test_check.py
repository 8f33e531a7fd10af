"""The provisioner's part of the reconciliation check, made to find each of its kinds of drift on
purpose: a machine nobody owns, a ``running`` row with no machine, a row stuck in ``waking``, and
an outbox row the relay cannot publish. ``fix`` corrects the first three (announced as events)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from nats.aio.client import Client as NatsClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.ops import (
    CheckProvisioner,
    CheckReport,
    DriftKind,
    Finding,
    GetInstanceFacts,
    InstanceFacts,
)
from claudecloud_common.rpc import request_on
from provisioner.providers.fake import read_state
from tests.provisioner_app import ProvisionerFactory
from tests.support import create_database, drop_database, eventually

from .conftest import Events


@pytest.fixture
async def own_db() -> AsyncIterator[str]:
    """A database of its own: the check counts every row, so no other test's may be there."""
    url = await create_database("cc_check")
    yield url
    await drop_database(url)


async def check(bus: NatsClient, *, fix: bool = False) -> CheckReport:
    return await request_on(bus, CheckProvisioner(fix=fix), timeout=20)


def kind(report: CheckReport, wanted: DriftKind) -> Finding:
    [found] = [f for f in report.findings if f.kind is wanted]
    return found


async def sql(url: str, statement: str, **values: Any) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement), values)
    finally:
        await engine.dispose()


async def insert_instance(url: str, status: str, *, age: timedelta = timedelta(0)) -> UUID:
    """A row written by hand, as a bug or a restored backup would leave it."""
    instance_id, at = uuid4(), utcnow() - age
    await sql(
        url,
        "INSERT INTO instances (id, user_id, status, provider, created_at, updated_at)"
        " VALUES (:id, :user_id, :status, 'fake', :at, :at)",
        id=instance_id,
        user_id=uuid4(),
        status=status,
        at=at,
    )
    return instance_id


def machine_by_hand(data_dir: Path) -> tuple[UUID, str]:
    """A machine labelled as ours that no instance owns (the fake provider's state file)."""
    user_id, instance_id = uuid4(), uuid4()
    provider_id = f"fake-{user_id}"
    record = {
        "provider_id": provider_id,
        "host": f"fake-{user_id}.local",
        "agent_secret": "by-hand",
        "volume": True,
        "running": True,
        "instance_id": str(instance_id),
    }
    with (data_dir / "fake-provider.jsonl").open("a") as journal:
        journal.write(json.dumps({"user": str(user_id), "record": record}) + "\n")
    return user_id, provider_id


async def test_a_clean_provisioner_reports_nothing(
    bus: NatsClient, provisioner: ProvisionerFactory, own_db: str
) -> None:
    async with provisioner(database_url=own_db):
        report = await check(bus)
    assert report.service == "provisioner"
    assert report.notes["provider"] == "fake"
    assert {f.kind for f in report.findings} == {
        DriftKind.MACHINE_WITHOUT_ROW,
        DriftKind.ROW_WITHOUT_MACHINE,
        DriftKind.STUCK_TRANSITION,
    }
    assert all(f.count == 0 for f in report.findings)
    assert report.outbox.stale == 0


async def test_a_machine_started_by_hand_is_found_and_fix_removes_it(
    bus: NatsClient, provisioner: ProvisionerFactory, own_db: str, tmp_path: Path
) -> None:
    user_id, provider_id = machine_by_hand(tmp_path)
    async with provisioner(database_url=own_db, reconcile_on_start=False):
        found = kind(await check(bus), DriftKind.MACHINE_WITHOUT_ROW)
        assert (found.count, found.samples, found.fixable) == (1, [provider_id], True)
        assert str(user_id) in read_state(tmp_path / "fake-provider.jsonl")["machines"]

        fixed = kind(await check(bus, fix=True), DriftKind.MACHINE_WITHOUT_ROW)
        assert fixed.fixed == 1
        assert str(user_id) not in read_state(tmp_path / "fake-provider.jsonl")["machines"]
        assert kind(await check(bus), DriftKind.MACHINE_WITHOUT_ROW).count == 0


async def test_a_running_row_without_a_machine_is_found_and_fix_fails_it(
    bus: NatsClient, provisioner: ProvisionerFactory, own_db: str, events: Events
) -> None:
    async with provisioner(database_url=own_db):
        instance_id = await insert_instance(own_db, "running")
        found = kind(await check(bus), DriftKind.ROW_WITHOUT_MACHINE)
        assert (found.count, found.samples) == (1, [str(instance_id)])

        assert kind(await check(bus, fix=True), DriftKind.ROW_WITHOUT_MACHINE).fixed == 1
        failed = await eventually(
            lambda: events.of(instance_id, "instance.failed"), what="announced"
        )
        assert failed[0]["code"] == "machine_missing"
        assert kind(await check(bus), DriftKind.ROW_WITHOUT_MACHINE).count == 0


async def test_a_row_forced_into_waking_past_its_timeout_is_found_and_fix_fails_it(
    bus: NatsClient, provisioner: ProvisionerFactory, own_db: str, events: Events
) -> None:
    async with provisioner(database_url=own_db, stuck_after_seconds=600):
        fresh = await insert_instance(own_db, "waking")  # under way, not stuck
        stuck = await insert_instance(own_db, "waking", age=timedelta(hours=1))
        found = kind(await check(bus), DriftKind.STUCK_TRANSITION)
        assert (found.count, found.samples) == (1, [f"{stuck} (waking)"])

        assert kind(await check(bus, fix=True), DriftKind.STUCK_TRANSITION).fixed == 1
        failed = await eventually(lambda: events.of(stuck, "instance.failed"), what="announced")
        assert failed[0]["code"] == "stuck"
        assert events.of(fresh) == []
        assert kind(await check(bus), DriftKind.STUCK_TRANSITION).count == 0


async def test_an_outbox_row_the_relay_cannot_publish_is_a_backlog(
    bus: NatsClient, provisioner: ProvisionerFactory, own_db: str
) -> None:
    async with provisioner(database_url=own_db):
        await sql(
            own_db,
            "INSERT INTO outbox (message_id, subject, payload, created_at)"
            " VALUES (:id, 'nowhere.at.all', '{}', :at)",
            id=str(uuid4()),
            at=utcnow() - timedelta(minutes=5),
        )
        report = await check(bus)
    assert report.outbox.stale == 1
    assert report.outbox.oldest_age_seconds is not None
    assert report.outbox.oldest_age_seconds >= 300


async def test_the_other_checks_get_instance_facts_by_id_owner_and_running_page(
    bus: NatsClient, provisioner: ProvisionerFactory, own_db: str
) -> None:
    async with provisioner(database_url=own_db, check_interval_seconds=0):
        running = await insert_instance(own_db, "running")
        paused = await insert_instance(own_db, "paused")

        async def facts(query: GetInstanceFacts) -> InstanceFacts:
            return await request_on(bus, query, timeout=5)

        by_id = await facts(GetInstanceFacts(instance_ids=[running, paused, uuid4()]))
        page = await facts(GetInstanceFacts(running_page=True))
    assert {(f.instance_id, f.status.value) for f in by_id.items} == {
        (running, "running"),
        (paused, "paused"),
    }
    assert [f.instance_id for f in page.items] == [running]


async def test_the_timer_runs_the_check_with_its_safe_fixes_unasked(
    bus: NatsClient, provisioner: ProvisionerFactory, own_db: str, tmp_path: Path, events: Events
) -> None:
    user_id, _provider_id = machine_by_hand(tmp_path)
    async with provisioner(
        database_url=own_db, reconcile_on_start=False, check_interval_seconds=0.5
    ):
        lost = await insert_instance(own_db, "running")

        def machine_gone() -> bool:
            return str(user_id) not in read_state(tmp_path / "fake-provider.jsonl")["machines"]

        await eventually(machine_gone, what="the orphan machine removed by the timer")
        await eventually(lambda: events.of(lost, "instance.failed"), what="the lost row failed")
        report = await check(bus)
    assert [f.count for f in report.findings] == [0, 0, 0]
