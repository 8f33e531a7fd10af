"""Activity tests: the activity service in-process with a clock the test moves, on the suite's
real NATS and Postgres, against fake agents (real HTTP) and a stand-in provisioner (real NATS).

Each test has its own database, so replicas and counts never mix across tests.
"""

from __future__ import annotations

import contextlib
import functools
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import nats
import pytest
from faststream import TestApp
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError

from activity.app import Activity, build, worker_app
from activity.clock import ManualClock
from activity.settings import ActivitySettings
from claudecloud_common.contracts.activity import ActivityView, GetActivity
from claudecloud_common.rpc import request
from tests.activity.fakes import FakeAgents, Machine, StandinProvisioner
from tests.support import create_database, drop_database, eventually

INTERVAL = 300.0


@pytest.fixture(scope="session")
async def bus(nats_url: str) -> AsyncIterator[NatsClient]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    for stream in ("CMD", "EVT", "DLQ"):
        with contextlib.suppress(NotFoundError):  # a clean slate: no stale consumers or messages
            await js.delete_stream(stream)
    yield nc
    await nc.close()


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    url = await create_database("cc_activity")
    yield url
    await drop_database(url)


@pytest.fixture
async def agents() -> AsyncIterator[FakeAgents]:
    fake = FakeAgents()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def provisioner(bus: NatsClient) -> AsyncIterator[StandinProvisioner]:
    standin = StandinProvisioner(bus)
    await standin.start()
    yield standin
    await standin.stop()


class Seen:
    """Every message published on a subject while the test runs (each publish, duplicates too)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def of(self, instance_id: UUID) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["instance_id"] == str(instance_id)]


@pytest.fixture
async def seen(bus: NatsClient) -> AsyncIterator[dict[str, Seen]]:
    found = {name: Seen() for name in ("usage", "unhealthy", "recovered", "claude_spend")}
    subs = []
    for name, box in found.items():

        async def collect(msg: Any, box: Seen = box) -> None:
            box.messages.append(json.loads(msg.data))

        subs.append(await bus.subscribe(f"evt.activity.{name}", cb=collect))
    yield found
    for sub in subs:
        await sub.unsubscribe()


@dataclass
class Running:
    """One activity replica, started, with the clock it reads."""

    parts: Activity
    clock: ManualClock
    settings: ActivitySettings

    @property
    def ticks(self) -> int:
        return len(self.parts.poller.ticks)

    def ticked(self, since: int) -> bool:
        return self.ticks > since


@dataclass
class Platform:
    """The activity replicas under test, their shared clock, and what they talk to."""

    clock: ManualClock
    agents: FakeAgents
    provisioner: StandinProvisioner
    bus: NatsClient
    replicas: list[Running] = field(default_factory=list)

    async def instance(self, agents: FakeAgents | None = None) -> tuple[Machine, Any]:
        """A new running instance with its fake agent; returns the machine and agent state."""
        agents = agents or self.agents
        secret, agent = agents.add()
        machine = Machine(uuid.uuid4(), uuid.uuid4(), agents.host, secret)
        await self.provisioner.run(machine)
        await eventually(
            lambda: self.view(machine.instance_id, missing_ok=True),
            what="activity following the new instance",
        )
        return machine, agent

    async def view(self, instance_id: UUID, *, missing_ok: bool = False) -> ActivityView | None:
        from claudecloud_common.rpc import RemoteError

        try:
            query = GetActivity(instance_id=instance_id)
            return await request(self.replicas[0].parts.broker, query, timeout=5)
        except RemoteError as exc:
            if missing_ok and exc.status_code == 404:
                return None
            raise

    async def step(self, seconds: float = INTERVAL) -> None:
        """Move time on and wait until every replica has finished the tick it causes."""
        before = [r.ticks for r in self.replicas]
        await self.clock.advance(seconds)
        for replica, count in zip(self.replicas, before, strict=True):
            await eventually(functools.partial(replica.ticked, count), what="a tick")


PlatformFactory = Callable[..., AbstractAsyncContextManager[Platform]]


@pytest.fixture
def platform(
    database_url: str,
    nats_url: str,
    bus: NatsClient,
    agents: FakeAgents,
    provisioner: StandinProvisioner,
    tmp_path: Path,
) -> PlatformFactory:
    """Start ``replicas`` activity services on one database and one hand-moved clock."""

    @asynccontextmanager
    async def start(replicas: int = 1, **overrides: Any) -> AsyncIterator[Platform]:
        clock = ManualClock()
        values: dict[str, Any] = {
            "data_dir": tmp_path,
            "database_url": database_url,
            "nats_url": nats_url,
            "interval_seconds": INTERVAL,
            "agent_timeout_seconds": 2.0,
            "bus_ack_wait_seconds": 3.0,
            "outbox_poll_seconds": 0.5,
        }
        settings = ActivitySettings(**(values | overrides))
        found = Platform(clock, agents, provisioner, bus)
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(replicas):
                parts = build(settings, clock)
                await stack.enter_async_context(TestApp(worker_app(parts)))
                running = Running(parts, clock, settings)
                found.replicas.append(running)
                await eventually(functools.partial(running.ticked, 0), what="the first tick")
            yield found

    return start
