"""How long one poll of every running instance takes, and what it costs: 1,000 and 10,000
instances (the provisioner with its fake provider, and a fake agent endpoint), each polled
within one interval; wall time and CPU of the activity service (and of the provisioner that
answers ``rpc.instance.activity``), and how they grow from 1,000 to 10,000.

Every fake agent reports new terminal input on every poll, so every poll is also a decision,
a usage sample through the outbox and a deadline moved: the costliest case.

    make bench-activity   (or: uv run python -m bench.activity [--sizes 1000 10000])
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
from faststream import TestApp
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import create_async_engine

from activity.app import build, worker_app
from activity.clock import ManualClock
from activity.service import ActivityService
from activity.settings import ActivitySettings
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.instances import InstanceStatus, InstanceView, RunningInstance
from devstack import free_port
from devstack.servers import NatsServer, PostgresServer, create_database
from devstack.stack import wait_for_health
from provisioner.models import Instance

INTERVAL = 300.0


# The fake agent endpoint (its own process: its CPU is not the poller's)


def serve_agents(port: int) -> None:
    """Answer ``GET /activity`` for any ``Bearer agent-<n>`` with one more input each time."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    inputs: dict[str, int] = {}

    async def activity(request: Request) -> Response:
        secret = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not secret.startswith("agent-"):
            return Response(status_code=401)
        inputs[secret] = inputs.get(secret, 0) + 1
        body = {"tmux_session": True, "tmux_clients": 1, "processes": 3, "busy": [],
                "terminals": 1, "chat_turns": 0, "boot_id": "bench", "inputs": inputs[secret],
                "turns_started": 0, "turns_ended": 0, "oom_kills": 0}  # fmt: skip
        return Response(json.dumps(body), media_type="application/json")

    app = Starlette(routes=[Route("/activity", activity)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", backlog=4096)


# The platform around the poller


@dataclass
class Around:
    nats_url: str
    postgres: PostgresServer
    provisioner_db: str
    provisioner: psutil.Process
    agents_host: str
    workdir: Path


@contextmanager
def child(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
        if process.poll() is None:
            process.kill()


@asynccontextmanager
async def around(workdir: Path) -> AsyncIterator[Around]:
    postgres = await asyncio.to_thread(PostgresServer(durable=True).start)
    nats_server = await asyncio.to_thread(NatsServer().start)
    try:
        provisioner_db = await create_database(postgres.url, "cc_bench_provisioner")
        port, agents_port = free_port(), free_port()
        env = {**os.environ, "PROVISIONER_PROVIDER": "fake", "DATA_DIR": str(workdir),
               "DATABASE_URL": provisioner_db, "NATS_URL": nats_server.url,
               "PROVISIONER_HTTP_PORT": str(port), "PROVISIONER_RECONCILE_ON_START": "false",
               "LOG_LEVEL": "WARNING"}  # fmt: skip
        agents_argv = [sys.executable, "-m", "bench.activity", "--serve-agents", str(agents_port)]
        with (
            child([sys.executable, "-m", "provisioner"], env, workdir / "provisioner.log") as prov,
            child(agents_argv, dict(os.environ), workdir / "agents.log"),
        ):
            await asyncio.to_thread(wait_for_health, f"http://127.0.0.1:{port}/healthz", timeout=60)
            await asyncio.to_thread(wait_for_agents, agents_port)
            yield Around(
                nats_server.url, postgres, provisioner_db, psutil.Process(prov.pid),
                f"127.0.0.1:{agents_port}", workdir,
            )  # fmt: skip
    finally:
        nats_server.stop()
        postgres.stop()


def wait_for_agents(port: int) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/activity", timeout=1)
            return
        time.sleep(0.1)
    raise RuntimeError("the fake agent endpoint did not start")


async def seed_provisioner(
    database_url: str, workdir: Path, views: list[InstanceView], host: str
) -> None:
    """N running instances in the provisioner's table and its fake provider's journal."""
    rows = [
        {"id": v.id, "user_id": v.user_id, "status": InstanceStatus.RUNNING.value,
         "provider": "fake", "provider_id": f"fake-{v.user_id}", "host": host,
         "agent_secret": f"agent-{i}", "created_at": v.created_at, "updated_at": v.updated_at}
        for i, v in enumerate(views)
    ]  # fmt: skip
    engine = create_async_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(insert(Instance.__table__), rows)  # type: ignore[attr-defined]
    await engine.dispose()
    journal = workdir / "fake-provider.jsonl"
    with journal.open("a") as out:
        for i, v in enumerate(views):
            record = {"provider_id": f"fake-{v.user_id}", "host": host, "volume": True,
                      "agent_secret": f"agent-{i}", "running": True,
                      "instance_id": str(v.id)}  # fmt: skip
            out.write(json.dumps({"user": str(v.user_id), "record": record}) + "\n")


@dataclass(frozen=True)
class Measured:
    instances: int
    wall: float
    cpu: float
    provisioner_cpu: float


async def measure(platform: Around, n: int) -> list[Measured]:
    """Two polls of ``n`` instances (the first sees every agent anew; the second is the steady
    state): each one tick of the activity service's own poller."""
    now = utcnow()
    views = [
        InstanceView(id=uuid.uuid4(), user_id=uuid.uuid4(), status=InstanceStatus.RUNNING,
                     provider="fake", created_at=now, updated_at=now)
        for _ in range(n)
    ]  # fmt: skip
    database_url = await create_database(platform.postgres.url, "cc_bench_activity")
    settings = ActivitySettings(
        database_url=database_url, nats_url=platform.nats_url, data_dir=platform.workdir,
        interval_seconds=INTERVAL, log_level="WARNING", resync_seconds=10 * 86_400,
        http_port=free_port(),
    )  # fmt: skip
    clock = ManualClock()
    parts = build(settings, clock)
    results = []
    async with TestApp(worker_app(parts)):
        await parts.poller.wait_for_ticks(1)  # its start-up resync is done: seed both sides now
        await seed_provisioner(
            platform.provisioner_db, platform.workdir, views, platform.agents_host
        )
        async with parts.db.transaction() as session:
            running = [RunningInstance(id=v.id, user_id=v.user_id) for v in views]
            await ActivityService(session, parts.poller.policy).seed(running, clock.now())
        for _ in range(2):
            ticks = len(parts.poller.ticks)
            before = platform.provisioner.cpu_times()
            await clock.advance(INTERVAL)
            tick = await parts.poller.wait_for_ticks(ticks + 1)
            after = platform.provisioner.cpu_times()
            if tick.polled != n:
                raise RuntimeError(f"polled {tick.polled} of {n} instances")
            spent = (after.user + after.system) - (before.user + before.system)
            results.append(Measured(n, tick.seconds, tick.cpu_seconds, spent))
    await set_all_paused(platform.provisioner_db)  # the next size starts from none running
    return results


async def set_all_paused(database_url: str) -> None:
    engine = create_async_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(update(Instance.__table__).values(status="paused"))  # type: ignore[attr-defined]
    await engine.dispose()


async def main(sizes: list[int]) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="cc-bench-activity-"))
    print(f"activity: one poll of every running instance (interval {INTERVAL:g} s)")
    found: dict[int, Measured] = {}
    async with around(workdir) as platform:
        for n in sizes:
            first, steady = await measure(platform, n)
            found[n] = steady
            for label, m in (("first poll", first), ("steady poll", steady)):
                share = m.wall / INTERVAL * 100
                print(
                    f"  {n:>6} instances, {label:<11}: wall {m.wall:7.2f} s ({share:5.1f}% of the "
                    f"interval)  activity CPU {m.cpu:6.2f} s ({m.cpu / n * 1000:.2f} ms each)  "
                    f"provisioner CPU {m.provisioner_cpu:6.2f} s"
                )
    if len(sizes) >= 2:
        small, large = found[sizes[0]], found[sizes[-1]]
        scale = large.instances / small.instances
        print(
            f"  growth x{scale:g} instances: wall x{large.wall / small.wall:.1f}, "
            f"activity CPU x{large.cpu / small.cpu:.1f}"
            f"  ({'within' if large.wall < INTERVAL else 'OVER'} one interval at {large.instances})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--serve-agents", type=int, metavar="PORT")
    args = parser.parse_args()
    if args.serve_agents:
        serve_agents(args.serve_agents)
    else:
        asyncio.run(main(args.sizes))
