"""Create → running through gateway + bus + provisioner, beside a direct provider call, and
sustained command throughput with 1,000 creates queued. Fake provider at zero latency, Postgres.

    make bench            (or: uv run python -m bench.instances [--creates 200] [--queued 1000])
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from uuid import uuid4

import httpx
import nats
from nats.aio.msg import Msg

from bench.common import percentile, quiet_logs, summary, verdict
from bench.floor import Floor, measure_floor
from claudecloud_common.contracts.instances import CreateInstance, InstanceSubject
from devstack import ServiceSpec, Stack, free_port, local_config, service
from devstack.otlp import collector
from devstack.servers import PostgresServer, create_database
from provisioner.providers import MachineRef
from provisioner.providers.fake import FakeProvider

BUS_MAX_WORKERS = 16
"""Messages one provisioner handles at once (its default); the floor runs as many loops."""


class RunningWatch:
    """When each instance's ``evt.instance.running`` reached the bus, as seen by a subscriber."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Future[float]] = {}

    async def on_message(self, msg: Msg) -> None:
        instance_id = json.loads(msg.data)["instance_id"]
        now = time.perf_counter()
        self.at.setdefault(instance_id, now)
        waiter = self.waiters.pop(instance_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(now)

    def expect(self, instance_id: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if instance_id in self.at:
            future.set_result(self.at[instance_id])
        else:
            self.waiters[instance_id] = future
        return future


async def direct_provider(n: int, workdir: Path) -> list[float]:
    quiet_logs()  # the provider's own lines would bury the figures
    provider = FakeProvider(workdir / "direct-fake.json")
    samples = []
    for _ in range(n):
        ref = MachineRef(instance_id=uuid4(), user_id=uuid4())
        started = time.perf_counter()
        await provider.create(ref)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def through_platform(stack: Stack, watch: RunningWatch, n: int) -> list[float]:
    base = f"http://127.0.0.1:{stack.config.port}"
    headers = {"X-API-Key": stack.config.admin_api_key}
    samples = []
    async with httpx.AsyncClient(base_url=base, headers=headers) as api:
        for _ in range(n):
            started = time.perf_counter()
            response = await api.post("/instances", json={"user_id": str(uuid4())})
            response.raise_for_status()
            running_at = await asyncio.wait_for(watch.expect(response.json()["id"]), 30)
            samples.append((running_at - started) * 1000)
    return samples


async def queued_throughput(
    stack: Stack, watch: RunningWatch, n: int, replicas: int
) -> tuple[float, float]:
    stack.stop("provisioner")
    nc = await nats.connect(stack.config.resolved_nats_url)
    js = nc.jetstream()
    ids = []
    for _ in range(n):
        command = CreateInstance(instance_id=uuid4(), user_id=uuid4())
        ids.append(str(command.instance_id))
        await js.publish(
            str(InstanceSubject.CREATE),
            command.model_dump_json().encode(),
            headers={"Nats-Msg-Id": str(command.id)},
        )
    await nc.close()
    waits = [watch.expect(i) for i in ids]
    started = time.perf_counter()
    await asyncio.to_thread(stack.start_service, stack.spec("provisioner"), wait=False)
    for index in range(2, replicas + 1):
        replica = ServiceSpec(f"provisioner-{index}", service("provisioner"), free_port())
        await asyncio.to_thread(stack.start_service, replica, wait=False)
    done = await asyncio.wait_for(asyncio.gather(*waits), timeout=600)
    first, last = min(done), max(done)
    return n / (last - started), n / (last - first) if last > first else float("inf")


async def main(creates: int, queued: int, replicas: int, env: list[str]) -> None:
    # A PostgreSQL of its own with durable defaults, thrown away at the end.
    postgres = await asyncio.to_thread(PostgresServer(durable=True).start)
    server = await create_database(postgres.url, "cc_bench")
    base, name = server.rsplit("/", 1)
    workdir = Path(tempfile.mkdtemp(prefix="cc-bench-"))
    env_pairs = dict(e.split("=", 1) for e in env)
    config = local_config(
        workdir, provider="fake", database_url=f"{base}/{name}",
        env={"LOG_LEVEL": "WARNING", **env_pairs},
    )  # fmt: skip
    stack = Stack(config)
    try:
        await asyncio.to_thread(stack.start)
        watch = RunningWatch()
        nc = await nats.connect(config.resolved_nats_url)
        await nc.subscribe(str(InstanceSubject.RUNNING), cb=watch.on_message)

        direct = await direct_provider(creates, workdir)
        floor = await measure_floor(
            f"postgresql://{server.split('://', 1)[1]}",
            config.resolved_nats_url,
            n=creates,
            concurrency=BUS_MAX_WORKERS,
        )
        await through_platform(stack, watch, 20)  # warm-up: connections, caches, JIT of paths
        platform = await through_platform(stack, watch, creates)
        overall, sustained = await queued_throughput(stack, watch, queued, replicas)
        await nc.close()
    finally:
        await asyncio.to_thread(stack.stop_all)
        await asyncio.to_thread(postgres.stop)

    report(creates, direct, platform, floor, queued, replicas, overall, sustained)


def report(
    creates: int,
    direct: list[float],
    platform: list[float],
    floor: Floor,
    queued: int,
    replicas: int,
    overall: float,
    sustained: float,
) -> None:
    added = percentile(platform, 50) - percentile(direct, 50)
    to_floor = added / percentile(floor.latencies_ms, 50)
    print(f"\ncreate → running, fake provider at zero latency, Postgres, n={creates}")
    print(f"  direct provider call        {summary(direct)}")
    print(f"  floor (2 commits, 2 publishes) {summary(floor.latencies_ms)}")
    print(f"  gateway + bus + provisioner {summary(platform)}")
    print(
        f"  added latency p50 {added:6.2f} ms = {to_floor:5.1f}x the floor"
        f" (aim ≤ 2x: {verdict(to_floor <= 2)})"
    )
    share = sustained / floor.per_second
    print(f"\n{queued} creates queued, then {replicas} provisioner process(es) started")
    print(f"  floor, {floor.concurrency} loops at once            {floor.per_second:7.1f} /s")
    print(f"  commands/s from provisioner start to last running   {overall:7.1f}")
    print(
        f"  commands/s sustained (first to last running event)  {sustained:7.1f}"
        f" = {share:4.2f} of the floor (aim ≥ 0.5: {verdict(share >= 0.5)})"
    )


async def traced(args: argparse.Namespace) -> None:
    """The same run with every service exporting its spans (OTLP/HTTP) to a local collector."""
    async with collector() as spans:
        print(f"tracing on: spans exported to {spans.url}")
        env = [*args.env, f"OTEL_EXPORTER_OTLP_ENDPOINT={spans.url}"]
        await main(args.creates, args.queued, args.replicas, env)
        print(f"spans received: {len(spans.spans)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--queued", type=int, default=1000)
    parser.add_argument("--replicas", type=int, default=1, help="provisioner processes")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the services")
    parser.add_argument(
        "--trace", action="store_true", help="services export spans to a local collector"
    )
    args = parser.parse_args()
    asyncio.run(
        traced(args) if args.trace else main(args.creates, args.queued, args.replicas, args.env)
    )
