"""Faults between the services and their stores: the platform's processes on PostgreSQL and NATS,
each reached through a :class:`~devstack.faults.FaultProxy`, under latency, connection resets
and a partition of a few seconds.

What a user would notice is checked: every request finishes within :data:`BOUND` seconds (none
hangs), answers either as usual or 503 with the declared error body and ``Retry-After``, and
once the network heals every command the API accepted (202) reaches its final state: nothing
accepted is lost. The figures of each phase are printed.

It found one defect: when a reset lands between the server's INFO and the client's CONNECT during
a reconnect, uvloop raises ``RuntimeError`` on the write to the closed transport and nats-py's
reconnect task (which catches only OSError, its own errors and timeouts) dies, leaving that service
off the bus for good. :class:`claudecloud_common.reconnect.ReconnectGuard` now starts a new
attempt; should a service still stay off the bus, its ``/healthz`` and what NATS lists of its
clients are printed on failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack import SERVICES, Child, Stack, free_port, local_config
from devstack.faults import FaultProxy
from devstack.local import hermetic_environ
from devstack.servers import NatsServer
from devstack.signin import sign_in_from_log
from devstack.stack import nats_server_binary, wait_for_port
from tests.support import SERVERS, drop_database, eventually, stream_messages

BOUND = 10.0
"""No request may take longer than this, whatever the network does (seconds)."""
PARTITION_SECONDS = 6.0
"""Longer than any store timeout above: a request made during the partition must be answered
(503) while it lasts, not when it heals."""
LATENCY_MS = 50
USERS_PER_PHASE = 3

ENV = {
    # Tight bounds on every wait, so a store that does not answer becomes a prompt 503.
    "RPC_TIMEOUT_SECONDS": "2",
    "GATEWAY_ADMISSION_TIMEOUT_SECONDS": "2",
    "DB_CONNECT_TIMEOUT_SECONDS": "2",
    "DB_COMMAND_TIMEOUT_SECONDS": "2",
    "DB_POOL_TIMEOUT_SECONDS": "2",
    # Every request reads the gateway's database (the session's sign-out cutoff) and asks the
    # provisioner, nothing answered from a cache.
    "GATEWAY_SESSION_CHECK_CACHE_SECONDS": "0",
    "GATEWAY_INSTANCE_CACHE_SECONDS": "0",
    "GATEWAY_RATE_LIMIT_API": "100000/minute",
    "GATEWAY_RATE_LIMIT_LOGIN": "100000/minute",
    # Production's redelivery (the suite's default gives up within two seconds, shorter than
    # the partition); acknowledgement wait above the worst handler's bounded time.
    "BUS_MAX_DELIVER": "6",
    "BUS_BACKOFF_SECONDS": "[0.5, 2.0, 5.0, 15.0, 30.0]",
    "BUS_ACK_WAIT_SECONDS": "15",
    "OUTBOX_POLL_SECONDS": "0.5",
}


class MonitoredNats(NatsServer):
    """The suite's kind of NATS server, with its monitoring port (``/connz``) for diagnosis."""

    def __init__(self) -> None:
        super().__init__()
        self.monitor_port = free_port()

    def start(self) -> MonitoredNats:
        argv = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js",
                "-m", str(self.monitor_port), "-sd", str(self.folder / "jetstream")]  # fmt: skip
        self.child = Child("nats", argv, hermetic_environ(), log=self.folder / "nats.log")
        self.child.start()
        wait_for_port("127.0.0.1", self.port, timeout=60, child=self.child)
        return self


@dataclass
class Faulty:
    """The platform and the two proxies its services reach their stores through."""

    stack: Stack
    postgres: FaultProxy
    nats: FaultProxy
    base_url: str
    nats_server: MonitoredNats
    """The NATS server itself (not through the proxy), for reading what the streams hold."""

    @property
    def proxies(self) -> tuple[FaultProxy, FaultProxy]:
        return self.postgres, self.nats


@pytest.fixture(scope="module")
async def faulty(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Faulty]:
    folder = tmp_path_factory.mktemp("faults")
    postgres = await asyncio.to_thread(SERVERS.postgres)
    nats = await asyncio.to_thread(MonitoredNats().start)
    pg_proxy = FaultProxy("127.0.0.1", postgres.port).start()
    nats_proxy = FaultProxy("127.0.0.1", nats.port).start()
    name = f"cc_faults_{uuid.uuid4().hex[:8]}"
    config = local_config(
        folder,
        provider="fake",
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{pg_proxy.port}/{name}",
        env=ENV,
    )
    config.nats_url = f"nats://127.0.0.1:{nats_proxy.port}"
    stack = Stack(config)
    try:
        await asyncio.to_thread(stack.start)
        yield Faulty(stack, pg_proxy, nats_proxy, f"http://127.0.0.1:{config.port}", nats)
    finally:
        stack.stop_all()
        pg_proxy.stop()
        nats_proxy.stop()
        nats.stop()
        for service in SERVICES:
            await drop_database(f"{postgres.sqlalchemy_url}/{name}_{service.name}")
        if request.session.testsfailed:
            _print_logs(config.log_dir)


def _print_logs(log_dir: Path | None) -> None:
    for log in sorted(log_dir.glob("*.log")) if log_dir else ():
        print(f"----- {log.name} (last lines) -----\n{log.read_text(errors='replace')[-4000:]}")


@dataclass
class Call:
    phase: str
    what: str
    status: int
    seconds: float


@dataclass
class Ledger:
    """Every request made and how it went; the commands the API accepted and what they must
    end as."""

    calls: list[Call] = field(default_factory=list)
    accepted: dict[str, str] = field(default_factory=dict)
    """Instance id -> the status its last accepted command leads to."""
    commands: int = 0
    """Commands answered 202."""

    def of(self, phase: str) -> list[Call]:
        return [c for c in self.calls if c.phase == phase]


@dataclass
class User:
    email: str
    token: str
    instance_id: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Client:
    """Requests as a user makes them, each timed and checked: usual answer or a proper 503."""

    def __init__(self, api: httpx.AsyncClient, ledger: Ledger) -> None:
        self.api = api
        self.ledger = ledger
        self.phase = "pass"

    async def call(
        self, user: User, method: str, path: str, *, key: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = user.headers | ({"Idempotency-Key": key} if key else {})
        started = time.monotonic()
        response = await self.api.request(method, path, headers=headers, **kwargs)
        seconds = time.monotonic() - started
        self.ledger.calls.append(
            Call(self.phase, f"{method} {path}", response.status_code, seconds)
        )
        if response.status_code == 503:
            body = response.json()
            assert body["error"] == "UnavailableError", body
            assert body["detail"], body
            assert int(response.headers["Retry-After"]) > 0
        else:
            assert response.status_code in (200, 202), (method, path, response.text)
        return response

    async def create(self, user: User) -> bool:
        """One attempt, with the user's idempotency key (a retry is the same request)."""
        response = await self.call(user, "POST", "/instances", json={}, key=user.email)
        if response.status_code != 202:
            return False
        user.instance_id = response.json()["id"]
        self.ledger.accepted[user.instance_id] = "running"
        self.ledger.commands += 1
        return True

    async def pause(self, user: User) -> bool:
        assert user.instance_id is not None
        response = await self.call(
            user, "POST", f"/instances/{user.instance_id}/pause", json={"keep_memory": False}
        )
        if response.status_code != 202:
            return False
        self.ledger.accepted[user.instance_id] = "paused"
        self.ledger.commands += 1
        return True

    async def read(self, user: User) -> None:
        await self.call(user, "GET", f"/instances/{user.instance_id}")
        await self.call(user, "GET", "/instances")


async def _status(client: Client, user: User, instance_id: str) -> str | None:
    response = await client.api.get(f"/instances/{instance_id}", headers=user.headers)
    return response.json().get("status") if response.status_code == 200 else None


async def test_latency_resets_and_a_partition_answer_bounded_503s_and_lose_nothing(
    faulty: Faulty,
) -> None:
    ledger = Ledger()
    log = faulty.stack.config.log_dir
    assert log is not None
    users = [
        User(email, await sign_in_from_log(faulty.base_url, log / "gateway.log", email))
        for email in (f"faults-{i}@example.com" for i in range(4 * USERS_PER_PHASE))
    ]
    batches = [users[i : i + USERS_PER_PHASE] for i in range(0, len(users), USERS_PER_PHASE)]
    async with httpx.AsyncClient(base_url=faulty.base_url, timeout=3 * BOUND) as api:
        client = Client(api, ledger)
        early, *later = batches
        assert all(await asyncio.gather(*(client.create(u) for u in early)))
        await _settled(client, early)

        client.phase = f"latency {LATENCY_MS} ms"
        for proxy in faulty.proxies:
            proxy.latency(LATENCY_MS)
        await _traffic(client, later[0], pause=early[0], readers=early, seconds=3)
        for proxy in faulty.proxies:
            proxy.pass_through()

        client.phase = "resets"
        async with _resetting(faulty.proxies, every=0.5):
            await _traffic(client, later[1], pause=early[1], readers=early, seconds=3)

        client.phase = f"partition {PARTITION_SECONDS:g} s"
        for proxy in faulty.proxies:
            proxy.partition(PARTITION_SECONDS)
        await _traffic(client, later[2], pause=early[2], readers=early, seconds=PARTITION_SECONDS)
        for proxy in faulty.proxies:
            proxy.heal()

        client.phase = "after"
        try:
            for user in (u for u in users if u.instance_id is None):  # a client retries a 503
                await eventually(partial(client.create, user), timeout=30, what="a retry")
        finally:
            lost = await _lost(client, users, timeout=60)
            dead = await stream_messages(faulty.nats_server.url, "DLQ", "dlq.>")
            _report(ledger, faulty, lost, len(dead))
            if lost:
                await _diagnose(faulty)

    assert max(c.seconds for c in ledger.calls) < BOUND
    cut_off = ledger.of(f"partition {PARTITION_SECONDS:g} s")
    assert any(c.status == 503 for c in cut_off)
    assert max(c.seconds for c in cut_off) < PARTITION_SECONDS  # answered, not waited out
    assert lost == []
    assert dead == []  # no command or event gave up during the faults


async def _traffic(
    client: Client, creating: list[User], *, pause: User, readers: list[User], seconds: float
) -> None:
    """For ``seconds``: each of ``creating`` asks for an instance (once), ``pause`` pauses its
    instance (once), and ``readers`` read theirs and their list over and over."""
    deadline = time.monotonic() + seconds

    async def reading(user: User) -> None:
        while time.monotonic() < deadline:
            await client.read(user)

    await asyncio.gather(
        *(client.create(u) for u in creating),
        client.pause(pause),
        *(reading(u) for u in readers),
    )


@contextlib.asynccontextmanager
async def _resetting(proxies: tuple[FaultProxy, ...], *, every: float) -> AsyncIterator[None]:
    async def keep_resetting() -> None:
        while True:
            await asyncio.sleep(every)
            for proxy in proxies:
                await asyncio.to_thread(proxy.reset)

    task = asyncio.create_task(keep_resetting())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _settled(client: Client, users: list[User]) -> None:
    assert not await _lost(client, users, timeout=30)


async def _lost(client: Client, users: list[User], *, timeout: float) -> list[str]:
    """The accepted commands whose instance has not reached its final status in ``timeout``."""
    owners = {u.instance_id: u for u in users if u.instance_id}

    async def missing() -> list[str]:
        statuses = {
            i: await _status(client, owners[i], i) for i in client.ledger.accepted if i in owners
        }
        return [
            f"{i} {statuses[i]} (wanted {want})"
            for i, want in client.ledger.accepted.items()
            if i in owners and statuses[i] != want
        ]

    with contextlib.suppress(AssertionError):
        await eventually(_none(missing), timeout=timeout, interval=0.5, what="final states")
    return await missing()


def _none(probe: Callable[[], Awaitable[list[str]]]) -> Callable[[], Awaitable[bool]]:
    async def empty() -> bool:
        return not await probe()

    return empty


async def _diagnose(faulty: Faulty) -> None:
    """What each service says of its bus and database, and what NATS sees of each client."""
    async with httpx.AsyncClient(timeout=5) as probe:
        for name, spec in ((s.name, s) for s in faulty.stack.config.services):
            with contextlib.suppress(httpx.HTTPError):
                answer = await probe.get(spec.health_url)
                print(f"  health {name}: {answer.status_code} {answer.text[:200]}")
        connz = await probe.get(f"http://127.0.0.1:{faulty.nats_server.monitor_port}/connz?subs=1")
        for conn in connz.json().get("connections", []):
            subs = len(conn.get("subscriptions_list") or [])
            print(
                f"  nats client {conn.get('name')}: subs {subs}"
                f", pending {conn.get('pending_bytes')} B, in {conn.get('in_msgs')} out "
                f"{conn.get('out_msgs')}, last activity {conn.get('last_activity')}"
            )


def _report(ledger: Ledger, faulty: Faulty, lost: list[str], dead: int) -> None:
    print()
    for phase in dict.fromkeys(c.phase for c in ledger.calls):
        calls = ledger.of(phase)
        unavailable = sum(c.status == 503 for c in calls)
        print(
            f"faults {phase}: {len(calls)} requests, max {max(c.seconds for c in calls):.2f}s, "
            f"{unavailable} answered 503, {sum(c.status in (200, 202) for c in calls)} as usual"
        )
    print(
        f"faults in all: {ledger.commands} commands accepted on {len(ledger.accepted)} instances, "
        f"{len(lost)} lost, {dead} dead letters; postgres proxy "
        f"{faulty.postgres.connections} connections ({faulty.postgres.resets} reset), "
        f"nats proxy {faulty.nats.connections} "
        f"({faulty.nats.resets} reset)"
    )
    for line in lost:
        print(f"  lost: {line}")
    for call in ledger.of("after")[-3:]:
        print(f"  after: {call}")
