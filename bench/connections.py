"""Many open connections through one gateway: 1,000 idle terminal WebSockets and 1,000 open
event streams (``GET /instances/{id}/events``, server-sent events), with one active terminal
beside them.

Printed: the active terminal's keystroke echo through the gateway with none open and with all of
them open (target: p50 within 2x of its echo alone), and the gateway's resident memory per open
connection. The platform runs on PostgreSQL and NATS with the fake provider; one process answers
as the agent (``bench.agents``: it echoes every key), so what the echo measures is the gateway.

    make bench-connections   (or: uv run python -m bench.connections [--terminals 1000]
                              [--streams 1000])
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import aiohttp
import httpx
import psutil
from websockets.protocol import State

from bench.capacity import agents_process, usage_of
from bench.common import percentile, raise_open_files, summary, verdict
from bench.terminal import Target, echo_round_trips
from devstack import Stack, free_port, local_config
from devstack.servers import PostgresServer, create_database
from devstack.signin import sign_in_from_log as sign_in
from devstack.ttyd import Terminal
from devstack.waiting import eventually

KEYSTROKES = 300
CHUNKS = 10
HOLD_SECONDS = 30.0
"""How long the active terminal types beside them: longer than the gateway's keepalive interval
of either kind (WebSocket pings every 20 s, event-stream pings every 15 s)."""
OPEN_AT_ONCE = 50
MB = 1024 * 1024
T = TypeVar("T")


async def open_many(count: int, opener: Callable[[], Awaitable[T]]) -> list[T]:
    """``count`` connections, ``OPEN_AT_ONCE`` being opened at a time."""
    opened: list[T] = []
    for start in range(0, count, OPEN_AT_ONCE):
        batch = min(OPEN_AT_ONCE, count - start)
        opened += await asyncio.gather(*(opener() for _ in range(batch)))
    return opened


async def open_stream(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> aiohttp.ClientResponse:
    """An instance's event stream, open once its first event (the snapshot) has arrived."""
    response = await http.get(url, headers=headers)
    response.raise_for_status()
    while not (await response.content.readline()).startswith(b"event: snapshot"):
        pass
    return response


def rss_mb(process: psutil.Process) -> float:
    return usage_of(process.pid)[0] / MB


async def echoes(target: Target, over_seconds: float) -> list[float]:
    """One key at a time, ``KEYSTROKES`` spread over ``over_seconds`` (so the keepalive pings of
    every open connection fall among them): the time until each one's echo, in ms."""
    await echo_round_trips(target, 20)  # warm-up: the connection, the endpoint cache
    times: list[float] = []
    for _ in range(CHUNKS):
        started = time.monotonic()
        times += await echo_round_trips(target, KEYSTROKES // CHUNKS)
        await asyncio.sleep(max(0.0, over_seconds / CHUNKS - (time.monotonic() - started)))
    return times


async def run(workdir: Path, terminals: int, streams: int) -> bool:
    postgres = await asyncio.to_thread(PostgresServer(durable=True).start)
    agents_port = free_port()
    try:
        database = await create_database(postgres.url, "cc_connections")
        env = {
            "LOG_LEVEL": "WARNING",
            "GATEWAY_LOG_LEVEL": "INFO",  # the sign-in link is read from its log
            "PROVISIONER_FAKE_AGENT_HOST": f"127.0.0.1:{agents_port}",
            "GATEWAY_RATE_LIMIT_API": "1000000/minute",
        }
        config = local_config(workdir, provider="fake", database_url=database, env=env)
        stack = Stack(config)
        with agents_process(agents_port, workdir / "agents.log"):
            try:
                await asyncio.to_thread(stack.start)
                return await measure(stack, workdir, terminals, streams)
            finally:
                await asyncio.to_thread(stack.stop_all)
    finally:
        await asyncio.to_thread(postgres.stop)


async def measure(stack: Stack, workdir: Path, terminals: int, streams: int) -> bool:
    port = stack.config.port
    base = f"http://127.0.0.1:{port}"
    token = await sign_in(base, workdir / "logs" / "gateway.log", "connections@example.com")
    bearer = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=bearer, timeout=60) as api:
        instance_id = (await api.post("/instances")).json()["id"]

        async def running() -> bool:
            return bool((await api.get(f"/instances/{instance_id}")).json()["status"] == "running")

        await eventually(running, timeout=60, what="the instance running")
    gateway_pid = stack.children["gateway"].pid
    assert gateway_pid is not None
    gateway = psutil.Process(gateway_pid)
    target = Target("gateway", f"ws://127.0.0.1:{port}/instances/{instance_id}/terminal", bearer)

    alone = await echoes(target, 0)
    before = rss_mb(gateway)

    opened = time.perf_counter()
    idle: list[Terminal] = await open_many(terminals, target.open)
    after_terminals = rss_mb(gateway)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        url = f"{base}/instances/{instance_id}/events"
        events = await open_many(streams, lambda: open_stream(http, url, bearer))
        opening = time.perf_counter() - opened
        after_streams = rss_mb(gateway)
        crowded = await echoes(target, HOLD_SECONDS)
        still_open = sum(t.connection.state is State.OPEN for t in idle)
        streams_open = sum(not r.closed for r in events)
        for response in events:
            response.close()
    await asyncio.gather(*(t.close() for t in idle), return_exceptions=True)
    return report(
        terminals,
        streams,
        alone,
        crowded,
        opening,
        (before, after_terminals, after_streams),
        still_open + streams_open,
    )


def report(
    terminals: int,
    streams: int,
    alone: list[float],
    crowded: list[float],
    opening: float,
    rss: tuple[float, float, float],
    still_open: int,
) -> bool:
    before, after_terminals, after_streams = rss
    print(f"\none gateway, {terminals:,} idle terminals and {streams:,} open event streams")
    print(f"  opened in {opening:.1f} s; still open at the end: {still_open:,}")
    print("keystroke echo of one active terminal through the gateway (agent echoes at once)")
    print(f"  alone        {summary(alone)}   p99 {percentile(alone, 99):7.2f} ms")
    print(f"  beside them  {summary(crowded)}   p99 {percentile(crowded, 99):7.2f} ms")
    ratio = percentile(crowded, 50) / percentile(alone, 50)
    echo_ok = ratio <= 2
    print(f"  p50 beside them / alone: {ratio:.2f}x   ({verdict(echo_ok)}: <= 2x)")
    per_terminal = (after_terminals - before) * 1024 / terminals if terminals else 0
    per_stream = (after_streams - after_terminals) * 1024 / streams if streams else 0
    print(f"gateway memory: {before:.0f} MB before, {after_streams:.0f} MB with all open")
    print(
        f"  per idle terminal {per_terminal:.1f} KB (with its upstream WebSocket to the agent),"
        f" per event stream {per_stream:.1f} KB"
    )
    dropped = terminals + streams - still_open
    print(f"  dropped: {dropped}   ({verdict(dropped == 0)}: none)")
    return echo_ok and dropped == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--terminals", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=1000)
    args = parser.parse_args()
    raise_open_files()  # before the gateway starts: it inherits the limit
    with tempfile.TemporaryDirectory(prefix="cc-bench-connections-") as tmp:
        ok = asyncio.run(run(Path(tmp), args.terminals, args.streams))
    print("\nall targets met" if ok else "\nsome targets missed")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
