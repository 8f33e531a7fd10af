"""What ``/metrics`` shows from the shared glue: requests by route template, bus subjects only as
the contracts name them, the outbox's backlog while the bus is down and after; and every metric
any service defines follows the naming rules and is listed in ``docs/metrics.md``."""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest
from faststream.asgi import AsgiResponse, get
from prometheus_client import REGISTRY, generate_latest
from sqlmodel import SQLModel

from claudecloud_common.bus import ensure_streams, event_subscriber, make_broker, publish
from claudecloud_common.contracts.instances import (
    InstanceRunning,
    InstanceStatus,
    InstanceSubject,
)
from claudecloud_common.db import Database
from claudecloud_common.metrics import OUTBOX_BACKLOG, subject_label
from claudecloud_common.outbox import OutboxMessage, OutboxRelay, add_to_outbox
from claudecloud_common.settings import ServiceSettings
from claudecloud_common.worker import WorkerParts, make_worker_app
from devstack import SERVICES, servers
from tests.common.metrics_rules import Exposed, documented, exposed, problems
from tests.support import eventually


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_subject_is_a_label_only_when_a_contract_names_it() -> None:
    assert subject_label("cmd.instance.create") == "cmd.instance.create"
    assert (
        subject_label("evt.billing.subscription.activated") == "evt.billing.subscription.activated"
    )
    assert subject_label("dlq.cmd.instance.create") == "dlq.cmd.instance.create"
    instance_id = str(uuid4())
    for sent in (f"evt.instance.{instance_id}", f"cmd.instance.create.{instance_id}", "x.y"):
        assert subject_label(sent) == "other"
    assert subject_label(f"dlq.evt.instance.{instance_id}") == "other"


@get
async def webhook(scope: object) -> AsgiResponse:
    return AsgiResponse(b"received", 200, {"content-type": "text/plain"})


async def test_a_worker_counts_its_requests_by_route_and_status(tmp_path: Path) -> None:
    settings = ServiceSettings(data_dir=tmp_path)
    app = make_worker_app(
        WorkerParts(
            settings=settings,
            broker=make_broker(settings),
            db=Database(settings.resolved_database_url),
            migrations=tmp_path,
            http_routes=[("/stripe/webhook", webhook)],
        )
    )
    labels = {"method": "GET", "route": "/stripe/webhook", "status": "200"}
    before = sample("claudecloud_http_requests_total", **labels)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://worker") as client:
        for _ in range(3):
            assert (await client.get("/stripe/webhook")).status_code == 200
        scraped = exposed((await client.get("/metrics")).text)
    requests = scraped["claudecloud_http_requests_total"]
    assert any(got == labels and n >= 3 for _, got, n in requests.samples), requests.samples
    assert sample("claudecloud_http_requests_total", **labels) == before + 3
    assert (
        sample(
            "claudecloud_http_request_duration_seconds_count",
            method="GET",
            route="/stripe/webhook",
        )
        >= 3
    )


@pytest.fixture
async def outbox_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
    async with database.engine.begin() as connection:
        await connection.run_sync(
            SQLModel.metadata.create_all,
            tables=[OutboxMessage.__table__],  # type: ignore[attr-defined]
        )
    yield database
    await database.dispose()


def backlog() -> tuple[float, float]:
    return (
        sample("claudecloud_outbox_pending_messages"),
        sample("claudecloud_outbox_oldest_pending_age_seconds"),
    )


@pytest.mark.integration  # the suite's NATS
async def test_the_outbox_backlog_grows_and_ages_while_the_bus_is_away_then_drains(
    outbox_db: Database, nats_url: str, tmp_path: Path
) -> None:
    broker = make_broker(ServiceSettings(data_dir=tmp_path, nats_url=nats_url))
    relay = OutboxRelay(outbox_db, broker, poll_seconds=0.1, grace_seconds=0)
    relay.start()  # not connected to the bus yet: nothing can be published
    try:
        base_pending, _ = backlog()
        for _ in range(3):
            async with outbox_db.transaction() as session:
                add_to_outbox(session, _event())
        await eventually(
            lambda: backlog()[0] == base_pending + 3 and backlog()[1] > 0.5,
            timeout=10,
            what="three events waiting, the oldest for over half a second",
        )
        first_age = backlog()[1]
        await eventually(lambda: backlog()[1] > first_age, timeout=5, what="the age growing")

        await broker.connect()
        await ensure_streams(broker)
        await eventually(
            lambda: backlog()[0] == base_pending, timeout=10, what="the backlog published"
        )
        assert (await relay.measure_backlog()).pending == 0
    finally:
        await relay.stop()
        await broker.stop()


def _event() -> InstanceRunning:
    return InstanceRunning(instance_id=uuid4(), user_id=uuid4(), status=InstanceStatus.RUNNING)


def every_service_loaded() -> dict[str, Exposed]:
    """Every metric any service defines, as this process (with every service's code) exposes
    them; the outbox's gauges come from a relay, which only workers run."""
    for service in SERVICES:
        importlib.import_module(f"{service.module}.app")
    families = exposed(generate_latest(REGISTRY).decode())
    for family in OUTBOX_BACKLOG.describe():
        families.setdefault(family.name, Exposed(family.name, family.type, frozenset(), ()))
    return families


def test_every_metric_any_service_defines_follows_the_naming_rules() -> None:
    assert problems(every_service_loaded()) == []


def test_docs_list_exactly_the_metrics_the_services_define() -> None:
    ours = {name for name in every_service_loaded() if name.startswith("claudecloud_")}
    assert set(documented()) == ours


@pytest.mark.integration  # a NATS server of its own: nothing else consumes what it publishes
async def test_retries_and_dead_letters_are_counted_by_subject(tmp_path: Path) -> None:
    subject = str(InstanceSubject.RUNNING)
    recovering, doomed = _event(), _event()
    calls: Counter[UUID] = Counter()

    def counts() -> tuple[float, ...]:
        return (
            sample("claudecloud_bus_retries_total", subject=subject),
            sample("claudecloud_bus_messages_total", subject=subject, outcome="retried"),
            sample("claudecloud_bus_messages_total", subject=subject, outcome="ok"),
            sample("claudecloud_bus_messages_total", subject=subject, outcome="dead_lettered"),
            sample("claudecloud_bus_dead_letters_total", subject=subject),
        )

    with servers.NatsServer() as server:
        settings = ServiceSettings(data_dir=tmp_path, nats_url=server.url)
        broker = make_broker(settings)

        @event_subscriber(broker, InstanceSubject.RUNNING, settings=settings)
        async def flaky(event: InstanceRunning) -> None:
            calls[event.instance_id] += 1
            if event.instance_id == doomed.instance_id or calls[event.instance_id] < 3:
                raise RuntimeError("not yet")

        await broker.connect()
        await ensure_streams(broker)
        await broker.start()
        try:
            before = counts()
            await publish(broker, recovering)
            await publish(broker, doomed)
            await eventually(
                lambda: counts()[3] > before[3] and counts()[2] > before[2],
                timeout=20,
                what="one handled after two retries, one dead-lettered",
            )
        finally:
            await broker.stop()
    # Two failures before the third delivery worked; three before the fourth and last failed.
    retries = settings.bus_max_deliver - 1 + 2
    assert [a - b for a, b in zip(counts(), before, strict=True)] == [retries, retries, 1, 1, 1]
