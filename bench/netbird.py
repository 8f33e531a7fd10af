"""The Hetzner + Netbird create saga end to end (create → ``evt.instance.running``), beside the
one-phase create of the same platform, in the same run: the platform as ``make run`` starts it
(Postgres, its own NATS), the fake Netbird Management API in a process of its own (it checks every
request against the OpenAPI document) and the stand-in ``terraform`` (three short processes per
create: init, apply, output); the fake provider at zero latency for the one-phase baseline.
Prints each saga step's share (requested → prepared → created → finalized → running).

    uv run python -m bench.netbird [--creates 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import nats
from nats.aio.msg import Msg

from bench.common import percentile, summary
from devstack import Child, Stack, StackConfig, free_port
from devstack.local import hermetic_environ
from devstack.servers import PostgresServer, create_database
from devstack.stack import plan_services, wait_for_health

REPO = Path(__file__).parents[1]
FAKES = REPO / "tests" / "fakes"
TOKEN = "nbp_fake_token"
STEPS = ("instance.requested", "netbird.prepared", "instance.created", "netbird.finalized")


class Watch:
    """When each event reached the bus, by (type, instance id)."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], float] = {}
        self.waiters: dict[tuple[str, str], asyncio.Future[float]] = {}

    async def on_message(self, msg: Msg) -> None:
        event = json.loads(msg.data)
        key, now = (event["type"], event["instance_id"]), time.perf_counter()
        self.seen.setdefault(key, now)
        waiter = self.waiters.pop(key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(now)

    def expect(self, kind: str, who: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if (kind, who) in self.seen:
            future.set_result(self.seen[(kind, who)])
        else:
            self.waiters[(kind, who)] = future
        return future


async def creates(stack: Stack, n: int) -> tuple[list[float], list[str]]:
    """``n`` creates through the API, one after the other: create → running, in ms."""
    watch = Watch()
    nc = await nats.connect(stack.config.resolved_nats_url)
    await nc.subscribe("evt.>", cb=watch.on_message)
    base = f"http://127.0.0.1:{stack.config.port}"
    headers = {"X-API-Key": stack.config.admin_api_key}
    samples, ids = [], []
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as api:
        for _ in range(n):
            started = time.perf_counter()
            created = await api.post("/instances", json={"user_id": str(uuid.uuid4())})
            assert created.status_code == 202, created.text
            instance = created.json()["id"]
            running = await asyncio.wait_for(watch.expect("instance.running", instance), 60)
            samples.append((running - started) * 1000)
            ids.append(instance)
    await nc.close()
    steps = [
        [
            (watch.seen[(later, i)] - watch.seen[(earlier, i)]) * 1000
            for i in ids
            if (later, i) in watch.seen and (earlier, i) in watch.seen
        ]
        for earlier, later in zip((*STEPS,), (*STEPS[1:], "instance.running"), strict=True)
    ]
    return samples, [summary(s) if s else "-" for s in steps]


def platform(folder: Path, database: str, provider: str, env: dict[str, str]) -> Stack:
    port = free_port()
    return Stack(
        StackConfig(
            data_dir=folder / "data",
            port=port,
            database_url=database,
            provider=provider,
            extra_env={"LOG_LEVEL": "WARNING", "BILLING_ENABLED": "false", **env},
            log_dir=folder / "logs",
            base_environ=hermetic_environ(),
            services=plan_services(port, environ={"PROVIDER": provider}),
        )
    )


async def run(stack: Stack, n: int) -> tuple[list[float], list[str]]:
    try:
        await asyncio.to_thread(stack.start)
        await creates(stack, 3)  # warm-up
        return await creates(stack, n)
    finally:
        await asyncio.to_thread(stack.stop_all)


async def main(n: int) -> None:
    postgres = await asyncio.to_thread(PostgresServer(durable=True).start)
    workdir = Path(tempfile.mkdtemp(prefix="cc-bench-netbird-"))
    netbird_url = f"http://127.0.0.1:{free_port()}"
    # Netbird is another machine: its fake runs in a process of its own.
    fake = Child(
        "fake-netbird",
        [sys.executable, "-m", "tests.fakes.netbird", "--port", netbird_url.rsplit(":", 1)[1]],
        {"PATH": "/usr/bin:/bin"},
        log=workdir / "fake-netbird.log",
        cwd=REPO,
    )
    try:
        fake.start()
        await asyncio.to_thread(wait_for_health, f"{netbird_url}/_fake/healthz", timeout=30)
        plain_db = await create_database(postgres.url, "cc_bench_plain")
        plain_ms, _ = await run(platform(workdir / "plain", plain_db, "fake", {}), n)
        mesh_db = await create_database(postgres.url, "cc_bench_mesh")
        mesh_env = {
            "HCLOUD_TOKEN": "hcloud-bench-token",
            "NETBIRD_API_URL": netbird_url,
            "NETBIRD_API_TOKEN": TOKEN,
            "TERRAFORM_BINARY": str(FAKES / "terraform"),
            "TERRAFORM_DIR": str(REPO / "terraform"),
            "TERRAFORM_WORKSPACES": str(workdir / "workspaces"),
            "INSTANCE_SETUP_SCRIPT": str(REPO / "docker" / "instance" / "setup.sh"),
        }
        mesh_ms, steps = await run(platform(workdir / "mesh", mesh_db, "hetzner", mesh_env), n)
    finally:
        fake.stop()
        await asyncio.to_thread(postgres.stop)

    print(
        f"\ncreate → running through the API, one at a time, n={n}"
        " (Postgres, fakes at zero latency)"
    )
    print(f"  one phase (fake provider)                     {summary(plain_ms)}")
    print(f"  Hetzner + Netbird saga (stand-in terraform)   {summary(mesh_ms)}")
    for (earlier, later), line in zip(
        zip(STEPS, (*STEPS[1:], "instance.running"), strict=True), steps, strict=True
    ):
        print(f"    {earlier:>19} → {later:<19} {line}")
    ratio = percentile(mesh_ms, 50) / percentile(plain_ms, 50)
    print(f"  saga p50 = {ratio:4.1f}x the one-phase create p50")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--creates", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.creates))
