"""The warm pool on Docker: create → running with the pool, without it, and a raw ``docker run``
until the agent answers, in one run; and Pay pressed → running with the pool (the signed
webhook, billing, a claim). ``running`` is seen on the instance's event stream (or the bus) as a
client sees it.

    uv run python -m bench.pool [--creates 10]

Aim: with the pool, under 0.1 of the raw run (p50).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker
import httpx
import nats

from bench.billing import SECRET, Watch, checkout, standin_process
from bench.common import percentile, summary
from bench.docker import IMAGE, RawDocker
from claudecloud_common.contracts.instances import InstanceSubject
from devstack import Stack, docker_isolation, free_port, local_config, remove_deployment
from devstack.engine import docker_answers, ensure_instance_image
from devstack.stack import wait_for_health

POOL = "2"
AIM = 0.1


async def until_pool_ready(stack: Stack, size: int) -> None:
    """Wait (untimed) until the provisioner says ``size`` slots are ready."""
    port = stack.spec("provisioner").http_port
    wanted = f'claudecloud_pool_slots{{state="ready"}} {float(size)}'
    async with httpx.AsyncClient(timeout=5) as http:
        for _ in range(1200):
            if wanted in (await http.get(f"http://127.0.0.1:{port}/metrics")).text:
                return
            await asyncio.sleep(0.1)
    raise TimeoutError("the warm pool did not fill")


async def create_ms(api: httpx.AsyncClient) -> float:
    """One create through the API, to ``running`` on its event stream; then destroyed."""
    started = time.perf_counter()
    reply = await api.post("/instances", json={"user_id": str(uuid.uuid4())})
    instance = reply.json()["id"]
    async with api.stream("GET", f"/instances/{instance}/events") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("data:") and '"status":"running"' in line.replace(" ", ""):
                break
    took = (time.perf_counter() - started) * 1000
    await api.delete(f"/instances/{instance}", params={"purge": "true"})
    return took


async def creates(stack: Stack, n: int, *, pool: int) -> list[float]:
    base = f"http://127.0.0.1:{stack.config.port}"
    headers = {"X-API-Key": stack.config.admin_api_key}
    samples = []
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as api:
        for _ in range(n):
            if pool:
                await until_pool_ready(stack, pool)
            samples.append(await create_ms(api))
    return samples


def restart(stack: Stack, base: dict[str, str], **env: str) -> None:
    stack.stop("provisioner")
    stack.config.extra_env = {**base, **env}
    stack.start_service(stack.spec("provisioner"))


async def paid_with_pool(workdir: Path, isolation: dict[str, str], n: int) -> list[float]:
    """Pay on the Checkout page → the instance running, billing on, the pool claimed."""
    standin = f"http://127.0.0.1:{free_port()}"
    env = {
        **isolation,
        "LOG_LEVEL": "WARNING",
        "BILLING_ENABLED": "true",
        "BILLING_STRIPE_API_BASE": standin,
        "BILLING_STRIPE_SECRET_KEY": "sk_test_bench",
        "BILLING_STRIPE_WEBHOOK_SECRET": SECRET,
        "PROVISIONER_WARM_POOL_SIZE": POOL,
    }
    stack = Stack(local_config(workdir / "paid", provider="docker", env=env))
    stripe = standin_process(standin, stack.spec("billing").listener_url("WEBHOOK_PORT"), workdir)
    samples = []
    try:
        stripe.start()
        await asyncio.to_thread(wait_for_health, f"{standin}/_standin/healthz", timeout=30)
        await asyncio.to_thread(stack.start)
        watch, nc = Watch(), await nats.connect(stack.config.resolved_nats_url)
        await nc.subscribe(str(InstanceSubject.ALL_EVENTS), cb=watch.on_message)
        async with httpx.AsyncClient(timeout=30) as browser:
            for _ in range(n):
                await until_pool_ready(stack, int(POOL))
                user = uuid.uuid4()
                session = await checkout(nc, user)
                running = watch.expect("instance.running", str(user))
                started = time.perf_counter()
                assert (await browser.post(f"{session.url}/pay")).status_code == 303
                samples.append((await asyncio.wait_for(running, 60) - started) * 1000)
        await nc.close()
    finally:
        await asyncio.to_thread(stack.stop_all)
        stripe.stop()
    return samples


async def run(n: int) -> None:
    deployment, network, isolation = docker_isolation("bench-pool", IMAGE)
    engine = docker.from_env(version="1.41", timeout=120)
    workdir = Path(tempfile.mkdtemp(prefix="cc-bench-pool-"))
    base = {**isolation, "LOG_LEVEL": "WARNING", "PROVISIONER_WARM_POOL_SIZE": POOL}
    stack = Stack(local_config(workdir / "api", provider="docker", env=base))
    raw = RawDocker(engine, network, deployment)
    try:
        await asyncio.to_thread(stack.start)
        await creates(stack, 2, pool=int(POOL))  # warm-up
        pooled = await creates(stack, n, pool=int(POOL))
        await asyncio.to_thread(restart, stack, base, PROVISIONER_WARM_POOL_SIZE="0")
        cold = await creates(stack, n, pool=0)
        raw_ms = [(await raw.cycle())[0] * 1000 for _ in range(n)]
        await asyncio.to_thread(stack.stop_all)
        paid = await paid_with_pool(workdir, isolation, max(3, n // 2))
    finally:
        await asyncio.to_thread(stack.stop_all)
        await raw.http.aclose()
        remove_deployment(engine, deployment, network)
    ratio = percentile(pooled, 50) / percentile(raw_ms, 50)
    print(f"\nCreate → running on Docker ({IMAGE}), n={n} each, one run")
    print(f"  with the warm pool ({POOL} slots)    {summary(pooled)}")
    print(f"  without the pool                   {summary(cold)}")
    print(f"  raw docker run → agent answers     {summary(raw_ms)}")
    print(
        f"  pool p50 = {ratio:.3f}x the raw run  ({'meets' if ratio < AIM else 'MISSES'} < {AIM}x)"
    )
    print(f"  without p50 = {percentile(cold, 50) / percentile(raw_ms, 50):.2f}x the raw run")
    print(f"\nPay pressed → running (webhook, billing, a claim), n={len(paid)}")
    print(f"  with the warm pool                 {summary(paid)}")


def main() -> None:
    if not docker_answers():
        sys.exit("no Docker engine answers: run scripts/docker-engine.sh")
    ensure_instance_image(IMAGE)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--creates", type=int, default=10)
    asyncio.run(run(parser.parse_args().creates))


if __name__ == "__main__":
    main()
