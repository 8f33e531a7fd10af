"""Instances on Docker: the platform against raw Docker, on the same image, in one run.

``running`` means usable: the agent answers ``/healthz``. For each of ``BENCH_CYCLES`` cycles
(default 20), alternately:

- platform: ``POST /instances`` → ``running``, a freeze (pause keeping memory) then ``POST
  /wake`` → ``running``, a stop (pause without memory) then ``POST /wake`` → ``running``, then
  destroy with purge; each ``running`` is seen on the instance's event stream, opened before
  the request;
- raw: ``docker create`` + ``start`` of the same image with the same limits → its agent answers,
  ``pause`` then ``unpause`` → its agent answers, ``stop`` then ``start`` → its agent answers,
  then remove.

It also prints the memory a frozen instance holds (``docker stats`` of the frozen container).
Targets: the platform adds at most 25% over raw Docker (p50) on create and on a wake after a
stop, and a wake from frozen is under 100 ms (p50).
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
THAW_TARGET_S = 0.1
RAW_NAMES = ("create+start->agent", "unpause->agent", "start->agent")


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
    def __init__(self, api: httpx.AsyncClient, engine: Any) -> None:
        self.api = api
        self.engine = engine
        self.frozen_memory: list[float] = []

    async def timed(
        self, instance_id: str, path: str, wanted: str, body: dict[str, Any] | None = None
    ) -> float:
        """Seconds from posting to ``path`` to ``wanted`` on the instance's event stream."""
        async with self.api.stream("GET", f"/instances/{instance_id}/events") as stream:
            lines = stream.aiter_lines()
            await anext(lines)  # the stream is open: the snapshot's first line arrived
            started = time.perf_counter()
            reply = await self.api.post(path, json=body)
            if reply.status_code != 202:
                raise RuntimeError(f"{path}: {reply.status_code} {reply.text}")
            async for text in lines:
                if text.startswith("data:") and f'"status":"{wanted}"' in text.replace(" ", ""):
                    return time.perf_counter() - started
                if '"status":"failed"' in text.replace(" ", ""):
                    raise RuntimeError(f"instance failed: {text}")
        raise RuntimeError(f"the event stream ended before {wanted}")

    async def cycle(self) -> tuple[float, float, float]:
        user = uuid.uuid4()
        started = time.perf_counter()
        reply = await self.api.post("/instances", json={"user_id": str(user)})
        instance_id = reply.json()["id"]
        await until(lambda: self.status_is(instance_id, "running"))
        create = time.perf_counter() - started
        base = f"/instances/{instance_id}"
        await self.timed(instance_id, f"{base}/pause", "frozen", {"keep_memory": True})
        self.frozen_memory.append(await asyncio.to_thread(self._memory, user))
        thaw = await self.timed(instance_id, f"{base}/wake", "running")
        await self.timed(instance_id, f"{base}/pause", "paused", {"keep_memory": False})
        wake = await self.timed(instance_id, f"{base}/wake", "running")
        await self.api.delete(base, params={"purge": "true"})
        await until(lambda: self.status_is(instance_id, "destroyed"))
        return create, thaw, wake

    async def status_is(self, instance_id: str, status: str) -> bool:
        view = (await self.api.get(f"/instances/{instance_id}")).json()
        if view["status"] == "failed":
            raise RuntimeError(f"instance failed: {view['reason']}")
        return bool(view["status"] == status)

    def _memory(self, user: uuid.UUID) -> float:
        stats = self.engine.containers.get(f"claude-{user}").stats(stream=False, one_shot=True)
        return float(stats["memory_stats"]["usage"]) / 2**20


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

    async def cycle(self) -> tuple[float, float, float]:
        secret = secrets.token_urlsafe(32)
        started = time.perf_counter()
        container = await asyncio.to_thread(self._create_and_start, secret)
        host = await asyncio.to_thread(self._host, container)
        await until(lambda: self.answers(host, secret))
        create = time.perf_counter() - started
        await asyncio.to_thread(container.pause)
        started = time.perf_counter()
        await asyncio.to_thread(container.unpause)
        await until(lambda: self.answers(host, secret))
        thaw = time.perf_counter() - started
        await asyncio.to_thread(container.stop, timeout=10)
        started = time.perf_counter()
        await asyncio.to_thread(container.start)
        host = await asyncio.to_thread(self._host, container)
        await until(lambda: self.answers(host, secret))
        wake = time.perf_counter() - started
        await asyncio.to_thread(container.remove, force=True, v=True)
        return create, thaw, wake


def start_stack(tmp: Path, isolation: dict[str, str]) -> Stack:
    config = local_config(tmp, provider="docker", env={**isolation, "LOG_LEVEL": "WARNING"})
    stack = Stack(config)
    stack.start()
    return stack


Cycle = tuple[float, float, float]
NAMES = ("create", "wake from frozen", "wake from stopped")


def report(platform: list[Cycle], raw: list[Cycle], frozen_mib: list[float]) -> bool:
    print(f"\nInstances on Docker ({IMAGE}), {len(platform)} cycles each, interleaved")
    for i, name in enumerate(NAMES):
        print(line(f"platform {name}", [c[i] for c in platform]))
        print(line(f"raw {RAW_NAMES[i]}", [c[i] for c in raw]))
    ok = True
    for i, name in enumerate(NAMES):
        mine, theirs = [c[i] for c in platform], [c[i] for c in raw]
        ratio = p(mine, 0.5) / p(theirs, 0.5)
        print(f"  {name}: platform/raw p50 = {ratio:.2f} ({(ratio - 1) * 100:+.0f}%)")
        if i != 1:
            good = ratio <= 1 + OVERHEAD_TARGET
            ok &= good
            print(f"    {'meets' if good else 'MISSES'} <= +{OVERHEAD_TARGET:.0%}")
    thaw = p([c[1] for c in platform], 0.5)
    good = thaw < THAW_TARGET_S
    ok &= good
    print(f"  wake from frozen p50 {thaw * 1000:.0f} ms  {'meets' if good else 'MISSES'} < 100 ms")
    print(f"  a frozen instance holds {statistics.fmean(frozen_mib):.0f} MiB (mean, docker stats)")
    return ok


async def run(
    stack: Stack, raw: RawDocker, engine: Any
) -> tuple[list[Cycle], list[Cycle], Platform]:
    headers = {"X-API-Key": stack.config.admin_api_key}
    base = f"http://127.0.0.1:{stack.config.port}"
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as api:
        platform = Platform(api, engine)
        await platform.cycle()  # warm-up: network, page cache; not counted
        await raw.cycle()
        mine, theirs = [], []
        for i in range(CYCLES):
            mine.append(await platform.cycle())
            theirs.append(await raw.cycle())
            print(
                f"  cycle {i + 1:2d}/{CYCLES}: platform {_cycle(mine[-1])},"
                f" raw {_cycle(theirs[-1])} (create/thaw/wake)",
                flush=True,
            )
    await raw.http.aclose()
    return mine, theirs, platform


def _cycle(times: Cycle) -> str:
    return "/".join(f"{t:.3f}" for t in times) + " s"


def main() -> None:
    if not docker_answers():
        sys.exit("no Docker engine answers: run scripts/docker-engine.sh")
    ensure_instance_image(IMAGE)
    deployment, network, isolation = docker_isolation("bench", IMAGE)
    engine = docker.from_env(version="1.41", timeout=120)
    with tempfile.TemporaryDirectory(prefix="cc-bench-docker-") as tmp:
        stack = start_stack(Path(tmp), isolation)
        try:
            raw = RawDocker(engine, network, deployment)
            mine, theirs, platform = asyncio.run(run(stack, raw, engine))
        finally:
            stack.stop_all()
            remove_deployment(engine, deployment, network)
    sys.exit(0 if report(mine, theirs, platform.frozen_memory) else 1)


if __name__ == "__main__":
    main()
