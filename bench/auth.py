"""Authenticated reads: ``GET /instances/{id}`` with a session token (JWT check, the user's
logout cutoff, the query to the provisioner over the bus) on one gateway worker, beside the
unauthenticated ``/healthz`` of the same server in the same run. Fake provider, Postgres.

    make bench-auth       (or: uv run python -m bench.auth [--seconds 10] [--connections 32])
    uv run python -m bench.auth --trace     (every service exports its spans to a local collector)

The load comes from raw keep-alive HTTP/1.1 connections on uvloop, so the client costs little
of the machine the gateway shares with it.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvloop
from aiosmtpd.controller import Controller

from bench.common import percentile, verdict
from devstack import Stack, free_port, local_config
from devstack.otlp import collector
from devstack.servers import PostgresServer, create_database
from devstack.signin import MailCatcher

TARGET = 1_000


@dataclass
class Run:
    name: str
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        lat = self.latencies_ms
        errors = sum(self.errors.values())
        return (
            f"  {self.name:<34} {self.rate:8.0f} req/s   p50 {percentile(lat, 50):6.2f} ms"
            f"   p99 {percentile(lat, 99):6.2f} ms   n={len(lat)}   errors={errors}"
        )


async def _connection(port: int, request: bytes, run: Run, start: Start) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    deadline = await start.wait()
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            status, body = await _response(reader)
            if status == 200:
                run.latencies_ms.append((time.perf_counter() - started) * 1000)
            else:
                key = f"{status} {body[:80]!r}"
                run.errors[key] = run.errors.get(key, 0) + 1
    finally:
        writer.close()


class Start:
    """Every connection open before the clock starts; all stop at one deadline."""

    def __init__(self, connections: int, seconds: float) -> None:
        self.barrier = asyncio.Barrier(connections + 1)
        self.seconds = seconds
        self.started = 0.0

    async def wait(self) -> float:
        await self.barrier.wait()
        return self.started + self.seconds

    async def go(self) -> None:
        self.started = time.perf_counter()
        await self.barrier.wait()


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status = int((await reader.readline()).split(b" ", 2)[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def load(name: str, port: int, path: str, headers: dict[str, str], args: Any) -> Run:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    run = Run(name)
    start = Start(args.connections, args.seconds)
    tasks = [
        asyncio.create_task(_connection(port, request, run, start)) for _ in range(args.connections)
    ]
    await start.go()
    await asyncio.gather(*tasks)
    run.seconds = time.perf_counter() - start.started
    return run


async def _sign_in_and_create(base: str, inbox: MailCatcher) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as api:
        (await api.post("/auth/login", json={"email": "bench@example.com"})).raise_for_status()
        token = httpx.URL(await inbox.next_link("bench@example.com")).params["token"]
        verified = await api.post(
            "/auth/verify", json={"token": token}, headers={"Accept": "application/json"}
        )
        session = verified.json()["token"]
        auth = {"Authorization": f"Bearer {session}"}
        created = await api.post("/instances", json={}, headers=auth)
        created.raise_for_status()
        instance_id = created.json()["id"]
        deadline = time.monotonic() + 30
        while (await api.get(f"/instances/{instance_id}", headers=auth)).json()[
            "status"
        ] != "running":
            if time.monotonic() > deadline:
                raise TimeoutError("the instance did not start")
            await asyncio.sleep(0.05)
    return session, instance_id


async def main(args: Any) -> None:
    inbox = MailCatcher()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    # A PostgreSQL of its own with durable defaults, thrown away at the end.
    postgres = await asyncio.to_thread(PostgresServer(durable=True).start)
    server = await create_database(postgres.url, "cc_bench_auth")
    base_db, name = server.rsplit("/", 1)
    workdir = Path(tempfile.mkdtemp(prefix="cc-bench-auth-"))
    port = free_port()
    config = local_config(
        workdir, provider="fake", database_url=f"{base_db}/{name}", port=port,
        replicas={"provisioner": args.provisioners},
        env={
            "LOG_LEVEL": "WARNING",
            "GATEWAY_JWT_SECRET": secrets.token_urlsafe(48),
            "GATEWAY_BASE_URL": f"http://127.0.0.1:{port}",
            "GATEWAY_SMTP_HOST": "127.0.0.1",
            "GATEWAY_SMTP_PORT": str(smtp_port),
            "GATEWAY_SMTP_STARTTLS": "false",
            # The limiter stays on (its cost is measured), far above what one client sends here.
            "GATEWAY_RATE_LIMIT_API": "10000000/minute",
            "GATEWAY_INSTANCE_CACHE_SECONDS": str(args.instance_cache),
            **({"OTEL_EXPORTER_OTLP_ENDPOINT": args.otlp} if args.otlp else {}),
        },
    )  # fmt: skip
    stack = Stack(config)
    try:
        await asyncio.to_thread(stack.start)
        session, instance_id = await _sign_in_and_create(f"http://127.0.0.1:{port}", inbox)
        authed = {"Authorization": f"Bearer {session}"}
        path = f"/instances/{instance_id}"
        await load(
            "warm-up", port, path, authed, argparse.Namespace(**{**vars(args), "seconds": 2})
        )
        health = await load("GET /healthz (no auth)", port, "/healthz", {}, args)
        reads = await load("GET /instances/{id} (bearer)", port, path, authed, args)
        admin = {"X-API-Key": config.admin_api_key}
        operator = await load("GET /instances/{id} (admin key)", port, path, admin, args)
    finally:
        await asyncio.to_thread(stack.stop_all)
        controller.stop()
        await asyncio.to_thread(postgres.stop)

    print(f"\none gateway worker ({args.provisioners} provisioner replica(s) answering), "
          f"{args.connections} keep-alive connections, {args.seconds:.0f} s each, Postgres, "
          f"fake provider, instance cache {args.instance_cache:g} s"
          f"{' (every read asks the provisioner)' if not args.instance_cache else ''}"
          f"{', tracing on (spans to a local collector)' if args.otlp else ''}")  # fmt: skip
    print(health.line())
    print(reads.line())
    print(operator.line())
    for run in (health, reads, operator):
        for error, count in run.errors.items():
            print(f"    {run.name}: {count} x {error}")
    print(f"  authenticated reads/s {reads.rate:8.0f}   (target ≥ {TARGET:,}: "
          f"{verdict(reads.rate >= TARGET and not reads.errors)})"
          f"   vs /healthz {reads.rate / health.rate if health.rate else 0:4.2f}x")  # fmt: skip


async def traced(args: Any) -> None:
    """The same run with every service exporting its spans (OTLP/HTTP) to a local collector."""
    async with collector() as spans:
        args.otlp = spans.url
        await main(args)
        print(f"  spans received: {len(spans.spans)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--provisioners", type=int, default=1)
    parser.add_argument(
        "--instance-cache", type=float, default=2.0,
        help="GATEWAY_INSTANCE_CACHE_SECONDS (0: every read is a query to the provisioner)",
    )  # fmt: skip
    parser.add_argument(
        "--trace", action="store_true", help="services export spans to a local collector"
    )
    # A stopped benchmark still stops its platform (the finally in main) and drops its databases.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    arguments = parser.parse_args()
    arguments.otlp = None
    uvloop.run(traced(arguments) if arguments.trace else main(arguments))
