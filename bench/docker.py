"""Instances on Docker: the platform against raw Docker, on the same image, in one run.

``running`` means usable: the agent answers ``/healthz``. For each of ``BENCH_CYCLES`` cycles
(default 20), alternately:

- platform: ``POST /instances`` → ``running`` (polling ``GET /instances/{id}``), pause, then
  ``POST /wake`` → ``running``, then destroy with purge;
- raw: ``docker create`` + ``start`` of the same image with the same limits → its agent answers,
  ``stop``, then ``start`` → its agent answers, then remove.

Targets: the platform adds at most 25% over raw Docker (p50), and wake p50 under 1.5 s.
``make bench-docker`` runs it (a few minutes: it is not part of ``make bench``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import docker
import httpx

from devstack import Stack, docker_isolation, local_config, remove_deployment
from devstack.engine import docker_answers, ensure_instance_image

IMAGE = os.environ.get("PROVISIONER_DOCKER_IMAGE", "claudecloud/instance:latest")
CYCLES = int(os.environ.get("BENCH_CYCLES", "20"))
OVERHEAD_TARGET = 0.25
WAKE_TARGET_S = 1.5


def p(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def line(name: str, values: Sequence[float]) -> str:
    return (
        f"  {name:<26} p50 {p(values, 0.5):6.3f} s   p90 {p(values, 0.9):6.3f} s"
        f"   mean {statistics.fmean(values):6.3f} s   n={len(values)}"
    )


async def until(probe: Callable[[], Awaitable[bool]], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await probe():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("condition not reached")


class Platform:
    def __init__(self, api: httpx.AsyncClient) -> None:
        self.api = api

    async def status_is(self, instance_id: str, status: str) -> bool:
        view = (await self.api.get(f"/instances/{instance_id}")).json()
        if view["status"] == "failed":
            raise RuntimeError(f"instance failed: {view['reason']}")
        return bool(view["status"] == status)

    async def cycle(self) -> tuple[float, float]:
        started = time.perf_counter()
        reply = await self.api.post("/instances", json={"user_id": str(uuid.uuid4())})
        instance_id = reply.json()["id"]
        await until(lambda: self.status_is(instance_id, "running"))
        create = time.perf_counter() - started
        await self.api.post(f"/instances/{instance_id}/pause")
        await until(lambda: self.status_is(instance_id, "paused"))
        started = time.perf_counter()
        await self.api.post(f"/instances/{instance_id}/wake")
        await until(lambda: self.status_is(instance_id, "running"))
        wake = time.perf_counter() - started
        await self.api.delete(f"/instances/{instance_id}", params={"purge": "true"})
        await until(lambda: self.status_is(instance_id, "destroyed"))
        return create, wake


class RawDocker:
    """The same image and limits, straight through the Docker SDK."""

    def __init__(self, engine: Any, network: str, deployment: str) -> None:
        self.engine = engine
        self.network = network
        self.deployment = deployment
        self.http = httpx.AsyncClient(timeout=2)

    async def answers(self, host: str, secret: str) -> bool:
        try:
            reply = await self.http.get(
                f"http://{host}/healthz", headers={"Authorization": f"Bearer {secret}"}
            )
        except httpx.HTTPError:
            return False
        return reply.status_code == 200

    def _host(self, container: Any) -> str:
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["3001/tcp"][0]["HostPort"]
        return f"127.0.0.1:{port}"

    def _create_and_start(self, secret: str) -> Any:
        container = self.engine.containers.create(
            IMAGE,
            name=f"bench-raw-{uuid.uuid4().hex[:12]}",
            labels={"io.claudecloud.deployment": self.deployment},
            environment={"AGENT_SECRET": secret},
            network=self.network,
            ports={"3001/tcp": ("127.0.0.1", None)},
            user="claude",
            init=True,
            security_opt=["no-new-privileges:true"],
            cap_drop=["ALL"],
            mem_limit="2g",
            nano_cpus=1_000_000_000,
            pids_limit=512,
            detach=True,
        )
        container.start()
        return container

    async def cycle(self) -> tuple[float, float]:
        secret = secrets.token_urlsafe(32)
        started = time.perf_counter()
        container = await asyncio.to_thread(self._create_and_start, secret)
        host = await asyncio.to_thread(self._host, container)
        await until(lambda: self.answers(host, secret))
        create = time.perf_counter() - started
        await asyncio.to_thread(container.stop, timeout=10)
        started = time.perf_counter()
        await asyncio.to_thread(container.start)
        host = await asyncio.to_thread(self._host, container)
        await until(lambda: self.answers(host, secret))
        wake = time.perf_counter() - started
        await asyncio.to_thread(container.remove, force=True, v=True)
        return create, wake


def start_stack(tmp: Path, isolation: dict[str, str]) -> Stack:
    config = local_config(tmp, provider="docker", env={**isolation, "LOG_LEVEL": "WARNING"})
    stack = Stack(config)
    stack.start()
    return stack


def report(platform: list[tuple[float, float]], raw: list[tuple[float, float]]) -> bool:
    p_create, p_wake = [c for c, _ in platform], [w for _, w in platform]
    r_create, r_wake = [c for c, _ in raw], [w for _, w in raw]
    print(f"\nInstances on Docker ({IMAGE}), {len(platform)} cycles each, interleaved")
    for name, values in (
        ("platform create->running", p_create),
        ("raw create+start->agent", r_create),
        ("platform wake->running", p_wake),
        ("raw start->agent", r_wake),
    ):
        print(line(name, values))
    ok = True
    for name, mine, theirs in (("create", p_create, r_create), ("wake", p_wake, r_wake)):
        ratio = p(mine, 0.5) / p(theirs, 0.5)
        good = ratio <= 1 + OVERHEAD_TARGET
        ok &= good
        verdict = "meets" if good else "MISSES"
        extra = f"{(ratio - 1) * 100:+.0f}%"
        print(f"  {name}: platform/raw p50 = {ratio:.2f} ({extra})  {verdict} <= +25%")
    good = p(p_wake, 0.5) < WAKE_TARGET_S
    ok &= good
    print(f"  wake p50 {p(p_wake, 0.5):.3f} s  {'meets' if good else 'MISSES'} < {WAKE_TARGET_S} s")
    return ok


async def run(
    stack: Stack, raw: RawDocker
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    headers = {"X-API-Key": stack.config.admin_api_key}
    base = f"http://127.0.0.1:{stack.config.port}"
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as api:
        platform = Platform(api)
        await platform.cycle()  # warm-up: network, page cache; not counted
        await raw.cycle()
        mine, theirs = [], []
        for i in range(CYCLES):
            mine.append(await platform.cycle())
            theirs.append(await raw.cycle())
            print(
                f"  cycle {i + 1:2d}/{CYCLES}: platform {mine[-1][0]:.2f}/{mine[-1][1]:.2f} s,"
                f" raw {theirs[-1][0]:.2f}/{theirs[-1][1]:.2f} s (create/wake)",
                flush=True,
            )
    await raw.http.aclose()
    return mine, theirs


def main() -> None:
    if not docker_answers():
        sys.exit("no Docker engine answers: run scripts/docker-engine.sh")
    ensure_instance_image(IMAGE)
    deployment, network, isolation = docker_isolation("bench", IMAGE)
    engine = docker.from_env(version="1.41", timeout=120)
    with tempfile.TemporaryDirectory(prefix="cc-bench-docker-") as tmp:
        stack = start_stack(Path(tmp), isolation)
        try:
            mine, theirs = asyncio.run(run(stack, RawDocker(engine, network, deployment)))
        finally:
            stack.stop_all()
            remove_deployment(engine, deployment, network)
    sys.exit(0 if report(mine, theirs) else 1)


if __name__ == "__main__":
    main()
