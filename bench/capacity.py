"""Capacity: the platform with N workstations, each size on a platform of its own.

The real services (every registered one) on PostgreSQL and NATS with the fake provider, whose
machines all name one process as their agent (``bench.agents``: a few typing, a few running a
chat turn, most idle). N creates are queued on the bus at once; then, for a measured window,
10 % of the workstations are paused and woken again per minute while activity polls at its own
interval. Printed per N: commands/s and latency of the creates and of the churn, the poll cycle
against its interval, resident memory per process, PostgreSQL connections and largest tables,
NATS stream sizes, the outbox's largest backlog, and the cost per 1,000 workstations.

    make capacity   (or: uv run python -m bench.capacity --instances 1000 [5000 ...]
                     [--window 60] [--poll-interval 30])
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import httpx
import nats
import psutil
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from bench.common import percentile, raise_open_files
from claudecloud_common.contracts.base import Message
from claudecloud_common.contracts.instances import (
    CreateInstance,
    PauseInstance,
    WakeInstance,
)
from devstack import Stack, free_port, local_config
from devstack.servers import PostgresServer, create_database
from devstack.stack import wait_for_health
from devstack.waiting import eventually

REAL_INTERVAL = 300.0
"""Activity's default poll interval (``ACTIVITY_INTERVAL_SECONDS``)."""
CHURN_PER_MINUTE = 0.10
"""Share of the workstations paused (and woken again) per minute."""
HOLD_SECONDS = 5.0
"""How long a paused workstation stays paused before it is woken."""
PUBLISH_AT_ONCE = 200
SAMPLE_SECONDS = 1.0
MB = 1024 * 1024


# Pure helpers (tests/bench)


def tick_durations(samples: Sequence[tuple[float, float]]) -> list[float]:
    """Each finished poll's seconds, from successive ``(count, sum)`` readings of the poll
    histogram: where the count grew by one, the sum grew by that poll's time (where it grew by
    more, the mean of those polls)."""
    found: list[float] = []
    for (count0, sum0), (count1, sum1) in itertools.pairwise(samples):
        ticks = int(count1 - count0)
        if ticks > 0:
            found.extend([(sum1 - sum0) / ticks] * ticks)
    return found


def metric_value(text: str, name: str) -> float | None:
    """The value of the sample ``name`` (labels included, as written) in Prometheus' text
    format; None when it is not there."""
    for line in text.splitlines():
        key, _, value = line.rpartition(" ")
        if key == name:
            return float(value)
    return None


def per_thousand(value: float, instances: int) -> float:
    return value / instances * 1000 if instances else float("nan")


# What the bus says


@dataclass
class Watch:
    """When each command was sent and when its answer (an event naming it) reached the bus."""

    sent: dict[UUID, float] = field(default_factory=dict)
    done: dict[UUID, float] = field(default_factory=dict)
    refused: set[UUID] = field(default_factory=set)
    running_at: dict[UUID, float] = field(default_factory=dict)
    """First ``evt.instance.running`` per instance (creates)."""
    paused: deque[tuple[UUID, float]] = field(default_factory=deque)
    """Instances paused by the churn, in order, with when."""
    pausing: dict[UUID, UUID] = field(default_factory=dict)
    """Pause command id -> instance."""

    async def on_event(self, msg: Msg) -> None:
        now = time.perf_counter()
        event = json.loads(msg.data)
        kind = event.get("type", "")
        if kind == "instance.running":
            self.running_at.setdefault(UUID(event["instance_id"]), now)
        command = event.get("command_id")
        if command is None:
            return
        command_id = UUID(command)
        if kind == "instance.rejected":
            self.refused.add(command_id)
            self.done.setdefault(command_id, now)
        elif kind in ("instance.paused", "instance.woken") and command_id not in self.done:
            self.done[command_id] = now
            instance = self.pausing.pop(command_id, None)
            if instance is not None:
                self.paused.append((instance, now))


async def send(js: JetStreamContext, watch: Watch, command: Message) -> None:
    watch.sent[command.id] = time.perf_counter()
    await js.publish(
        str(command.subject),
        command.model_dump_json().encode(),
        headers={"Nats-Msg-Id": str(command.id)},
    )


# What the processes and servers hold


@dataclass
class Peaks:
    rss: dict[str, int] = field(default_factory=dict)
    rss_end: dict[str, int] = field(default_factory=dict)
    rss_idle: dict[str, int] = field(default_factory=dict)
    """Before the first create: what each process holds with no workstation."""
    cpu_idle: dict[str, float] = field(default_factory=dict)
    cpu_end: dict[str, float] = field(default_factory=dict)
    connections: int = 0
    backlog: dict[str, int] = field(default_factory=dict)
    polls: list[tuple[float, float]] = field(default_factory=list)


def usage_of(pid: int) -> tuple[int, float]:
    """Resident memory (bytes) and CPU time so far (seconds) of a process and its children."""
    try:
        processes = [psutil.Process(pid)]
        processes += processes[0].children(recursive=True)
        rss = sum(int(p.memory_info().rss) for p in processes)
        cpu = sum(p.cpu_times().user + p.cpu_times().system for p in processes)
    except psutil.Error:
        return 0, 0.0
    return rss, cpu


class Sampler:
    def __init__(self, stack: Stack, databases: dict[str, str], server: str) -> None:
        self.stack = stack
        self.databases = databases
        self.server = server
        self.peaks = Peaks()
        self._connections: dict[str, asyncpg.Connection] = {}
        self._admin: asyncpg.Connection | None = None
        self._http = httpx.AsyncClient(timeout=5)
        self._activity = self.stack.spec("activity").http_port

    async def open(self) -> None:
        self._admin = await asyncpg.connect(f"{self.server}/postgres")
        for service, url in self.databases.items():
            connection = await asyncpg.connect(url)
            exists = await connection.fetchval("SELECT to_regclass('public.outbox') IS NOT NULL")
            if exists:
                self._connections[service] = connection
            else:
                await connection.close()

    async def close(self) -> None:
        for connection in self._connections.values():
            await connection.close()
        if self._admin is not None:
            await self._admin.close()
        await self._http.aclose()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE_SECONDS)

    async def sample(self) -> None:
        peaks = self.peaks
        for name, child in self.stack.processes.items():
            if child.pid is not None:
                rss, cpu = usage_of(child.pid)
                peaks.cpu_end[name] = cpu
                peaks.cpu_idle.setdefault(name, cpu)
                peaks.rss[name] = max(peaks.rss.get(name, 0), rss)
                peaks.rss_end[name] = rss
                peaks.rss_idle.setdefault(name, rss)
        for service, connection in self._connections.items():
            rows = int(await connection.fetchval("SELECT count(*) FROM outbox"))
            peaks.backlog[service] = max(peaks.backlog.get(service, 0), rows)
        assert self._admin is not None
        held = await self._admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = ANY($1::text[])",
            [url.rsplit("/", 1)[1] for url in self.databases.values()],
        )
        peaks.connections = max(peaks.connections, int(held) - len(self._connections))
        with contextlib.suppress(httpx.HTTPError):
            text = (await self._http.get(f"http://127.0.0.1:{self._activity}/metrics")).text
            count = metric_value(text, "claudecloud_activity_poll_seconds_count")
            total = metric_value(text, "claudecloud_activity_poll_seconds_sum")
            if count is not None and total is not None:
                peaks.polls.append((count, total))

    async def largest_tables(self, top: int = 4) -> list[tuple[str, int]]:
        sizes: list[tuple[str, int]] = []
        for service, url in self.databases.items():
            connection = await asyncpg.connect(url)
            try:
                rows = await connection.fetch(
                    "SELECT c.relname, pg_total_relation_size(c.oid) AS size FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY size DESC LIMIT $1",
                    top,
                )
            finally:
                await connection.close()
            sizes += [(f"{service}.{row['relname']}", int(row["size"])) for row in rows]
        return sorted(sizes, key=lambda item: -item[1])[:top]


# One size


@dataclass
class Figures:
    instances: int
    create_seconds: float
    create_latencies: list[float]
    created: int
    churn_sent: int
    churn_done: int
    churn_refused: int
    churn_latencies: list[float]
    window: float
    poll_interval: float
    polls: list[float]
    peaks: Peaks
    tables: list[tuple[str, int]]
    streams: dict[str, tuple[int, int]]


@contextmanager
def agents_process(port: int, log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        argv = [sys.executable, "-m", "bench.agents", "--port", str(port)]
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_health(f"http://127.0.0.1:{port}/healthz", timeout=30)
        yield
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()
            process.wait()


@asynccontextmanager
async def platform(workdir: Path, poll_interval: float) -> AsyncIterator[tuple[Stack, str]]:
    postgres = await asyncio.to_thread(PostgresServer(durable=True).start)
    agents_port = free_port()
    try:
        database = await create_database(postgres.url, "cc_capacity")
        env = {
            "LOG_LEVEL": "WARNING",
            "PROVISIONER_FAKE_AGENT_HOST": f"127.0.0.1:{agents_port}",
            "ACTIVITY_INTERVAL_SECONDS": str(poll_interval),
            "GATEWAY_RATE_LIMIT_API": "100000/minute",
        }
        config = local_config(workdir, provider="fake", database_url=database, env=env)
        stack = Stack(config)
        with agents_process(agents_port, workdir / "agents.log"):
            try:
                await asyncio.to_thread(stack.start)
                yield stack, postgres.url
            finally:
                await asyncio.to_thread(stack.stop_all)
    finally:
        await asyncio.to_thread(postgres.stop)


async def create_all(js: JetStreamContext, watch: Watch, n: int) -> list[CreateInstance]:
    """``n`` creates queued on the bus as fast as it takes them; returns once each instance is
    running (or at a deadline)."""
    commands = [CreateInstance(instance_id=uuid4(), user_id=uuid4()) for _ in range(n)]
    for start in range(0, n, PUBLISH_AT_ONCE):
        batch = commands[start : start + PUBLISH_AT_ONCE]
        await asyncio.gather(*(send(js, watch, c) for c in batch))
    with contextlib.suppress(AssertionError):  # what did not run is counted, not waited for
        await eventually(
            lambda: len(watch.running_at) >= n, timeout=max(120.0, n / 20), interval=0.2
        )
    return commands


async def churn(
    js: JetStreamContext, watch: Watch, instances: list[UUID], window: float
) -> tuple[list[UUID], int]:
    """Pause ``CHURN_PER_MINUTE`` of ``instances`` per minute, each woken ``HOLD_SECONDS``
    later; returns the commands sent (pauses and wakes) and how many were pauses."""
    rate = CHURN_PER_MINUTE * len(instances) / 60
    order = deque(random.sample(instances, len(instances)))
    sent: list[UUID] = []
    tasks: set[asyncio.Task[None]] = set()
    started = time.perf_counter()
    step = 0
    while (now := time.perf_counter()) - started < window:
        due = int((now - started) * rate) + 1
        while step < due:
            step += 1
            pause = PauseInstance(instance_id=order[0])
            order.rotate(-1)
            watch.pausing[pause.id] = pause.instance_id
            sent.append(pause.id)
            _spawn(tasks, send(js, watch, pause))
        while watch.paused and now - watch.paused[0][1] >= HOLD_SECONDS:
            instance, _ = watch.paused.popleft()
            wake = WakeInstance(instance_id=instance)
            sent.append(wake.id)
            _spawn(tasks, send(js, watch, wake))
        await asyncio.sleep(min(0.05, 1 / rate if rate else 0.05))
    await asyncio.gather(*tasks)
    return sent, step


def _spawn(tasks: set[asyncio.Task[None]], work: object) -> None:
    task = asyncio.ensure_future(work)  # type: ignore[call-overload]
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def stream_sizes(js: JetStreamContext) -> dict[str, tuple[int, int]]:
    return {
        info.config.name or "?": (info.state.messages, info.state.bytes)
        for info in await js.streams_info()
    }


async def measure(n: int, window: float, poll_interval: float) -> Figures:
    with tempfile.TemporaryDirectory(prefix=f"cc-bench-capacity-{n}-") as folder:
        return await measure_in(Path(folder), n, window, poll_interval)


async def measure_in(workdir: Path, n: int, window: float, poll_interval: float) -> Figures:
    async with platform(workdir, poll_interval) as (stack, server):
        databases = {
            spec.service.name: stack.service_env(spec)["DATABASE_URL"].replace(
                "postgresql+asyncpg://", "postgresql://"
            )
            for spec in stack.config.services
        }
        sampler = Sampler(stack, databases, server)
        await sampler.open()
        stop = asyncio.Event()
        sampling = asyncio.create_task(sampler.run(stop))
        nc = await nats.connect(stack.config.resolved_nats_url)
        js = nc.jetstream()
        watch = Watch()
        await nc.subscribe("evt.instance.>", cb=watch.on_event)
        try:
            started = time.perf_counter()
            creates = await create_all(js, watch, n)
            running = [c.instance_id for c in creates if c.instance_id in watch.running_at]
            last = max((watch.running_at[i] for i in running), default=time.perf_counter())
            first_poll = len(sampler.peaks.polls)
            sent, _ = await churn(js, watch, running, window)
            with contextlib.suppress(AssertionError):  # what never finished is counted
                await eventually(lambda: all(c in watch.done for c in sent), timeout=30)
            stop.set()
            await sampling
            await sampler.sample()
            tables = await sampler.largest_tables()
            streams = await stream_sizes(js)
        finally:
            stop.set()
            await nc.close()
            await sampler.close()
    return Figures(
        instances=n,
        create_seconds=last - started,
        create_latencies=[
            (watch.running_at[c.instance_id] - watch.sent[c.id]) * 1000
            for c in creates
            if c.instance_id in watch.running_at
        ],
        created=len(running),
        churn_sent=len(sent),
        churn_done=sum(1 for c in sent if c in watch.done),
        churn_refused=sum(1 for c in sent if c in watch.refused),
        churn_latencies=[(watch.done[c] - watch.sent[c]) * 1000 for c in sent if c in watch.done],
        window=window,
        poll_interval=poll_interval,
        polls=tick_durations(sampler.peaks.polls[max(0, first_poll - 1) :]),
        peaks=sampler.peaks,
        tables=tables,
        streams=streams,
    )


# The report


def mb(value: float) -> str:
    return f"{value / MB:,.0f} MB" if abs(value) >= 10 * MB else f"{value / MB:,.1f} MB"


def rows(found: Sequence[Figures]) -> list[tuple[str, list[str]]]:
    """The table: one row per figure, one column per size."""
    table: list[tuple[str, list[str]]] = []

    def row(label: str, cell: object) -> None:
        table.append((label, [cell(f) for f in found]))  # type: ignore[operator]

    row("workstations running", lambda f: f"{f.created:,} of {f.instances:,}")
    row("creates/s (all queued at once)", lambda f: f"{f.created / f.create_seconds:,.0f}")
    row("create latency (queued) p50 / p99", lambda f: _p(f.create_latencies, "s"))
    row("churn commands/s (pause+wake)", lambda f: f"{f.churn_done / f.window:,.1f}")
    row("churn latency p50 / p99", lambda f: _p(f.churn_latencies, "ms"))
    row(
        "churn unfinished 30 s on / refused",
        lambda f: f"{f.churn_sent - f.churn_done} / {f.churn_refused}",
    )
    row("poll cycle (longest)", lambda f: f"{max(f.polls, default=float('nan')):.2f} s")
    row(
        "  of its interval / of 300 s",
        lambda f: (
            f"{max(f.polls, default=0) / f.poll_interval:.0%} / "
            f"{max(f.polls, default=0) / REAL_INTERVAL:.1%}"
        ),
    )
    row(
        "  poll time per 1,000",
        lambda f: f"{per_thousand(max(f.polls, default=0), f.instances):.2f} s",
    )
    names = sorted({name for f in found for name in f.peaks.rss_end})
    for name in names:
        row(f"RSS {name}", lambda f, n=name: mb(f.peaks.rss_end.get(n, 0)))
    for name in names:
        row(f"  {name} per 1,000 (above idle)", lambda f, n=name: mb(_grown(f, n)))
    for name in names:
        row(f"CPU {name} (s, whole run)", lambda f, n=name: f"{_cpu(f, n):,.1f}")
    row("PostgreSQL connections (most)", lambda f: f"{f.peaks.connections}")
    for rank in range(3):
        row(f"table #{rank + 1}", lambda f, r=rank: _table(f.tables, r))
    for stream in sorted({s for f in found for s in f.streams}):
        row(f"NATS {stream}", lambda f, s=stream: _stream(f.streams.get(s)))
    for service in sorted({s for f in found for s in f.peaks.backlog}):
        row(f"outbox {service} (most rows)", lambda f, s=service: f"{f.peaks.backlog.get(s, 0):,}")
    return table


def _grown(f: Figures, name: str) -> float:
    grown = f.peaks.rss_end.get(name, 0) - f.peaks.rss_idle.get(name, 0)
    return per_thousand(grown, f.instances)


def _cpu(f: Figures, name: str) -> float:
    return f.peaks.cpu_end.get(name, 0) - f.peaks.cpu_idle.get(name, 0)


def _p(values: list[float], unit: str) -> str:
    if not values:
        return "-"
    scale = 1000 if unit == "s" else 1
    return f"{percentile(values, 50) / scale:,.1f} / {percentile(values, 99) / scale:,.1f} {unit}"


def _table(tables: list[tuple[str, int]], rank: int) -> str:
    return f"{tables[rank][0]} {mb(tables[rank][1])}" if rank < len(tables) else "-"


def _stream(found: tuple[int, int] | None) -> str:
    return "-" if found is None else f"{found[0]:,} msgs {mb(found[1])}"


def print_table(found: Sequence[Figures]) -> None:
    table = rows(found)
    label_width = max(len(label) for label, _ in table)
    widths = [max(len(cells[i]) for _, cells in table) for i in range(len(found))]
    widths = [max(w, len(f"N = {f.instances:,}")) for w, f in zip(widths, found, strict=True)]
    head = "  ".join(
        f"{'N = ' + format(f.instances, ','):>{w}}" for f, w in zip(found, widths, strict=True)
    )
    print(f"\n{'':{label_width}}  {head}")
    for label, cells in table:
        print(
            f"{label:{label_width}}  "
            + "  ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True))
        )


async def main(sizes: list[int], window: float, poll_interval: float) -> None:
    raise_open_files()
    print(
        f"capacity: every service on PostgreSQL + NATS, fake provider, one process as every agent;"
        f" {CHURN_PER_MINUTE:.0%} paused and woken per minute for {window:g} s;"
        f" activity polls every {poll_interval:g} s"
    )
    found = []
    for n in sizes:
        started = time.monotonic()
        figures = await measure(n, window, poll_interval)
        found.append(figures)
        print(f"  N = {n:,}: done in {time.monotonic() - started:.0f} s", flush=True)
        if len(sizes) > 1:
            print_table([figures])
    print_table(found)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, nargs="+", default=[1000])
    parser.add_argument("--window", type=float, default=60.0, help="seconds of churn measured")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=30.0,
        help=f"activity's interval (its default is {REAL_INTERVAL:g} s)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.instances, args.window, args.poll_interval))
