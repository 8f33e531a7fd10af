"""Billing: Stripe webhooks handled per second (signed, stored, acted on), beside billing's own
``/healthz`` at the same concurrency; and paid → instance running (Pay on the Checkout page, the
signed ``checkout.session.completed``, billing, the provisioner), beside create → running through
the API for a paying user, in the same run. The platform as ``make run`` starts it with billing
on, against the local Stripe stand-in in a process of its own; fake provider at zero latency;
Postgres.

    make bench-billing      (or: uv run python -m bench.billing [--paid 30] [--webhooks 500])
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from bench.common import percentile, summary
from billing.standin import sign
from claudecloud_common.contracts.billing import CheckoutSession, StartCheckout
from claudecloud_common.contracts.instances import InstanceSubject
from claudecloud_common.rpc import request_on
from devstack import Child, Stack, free_port, local_config
from devstack.servers import PostgresServer, create_database
from devstack.stack import wait_for_health

SECRET = "whsec_bench_" + uuid.uuid4().hex
CONCURRENCY = 16


class Watch:
    """When each ``evt.instance.*`` of interest reached the bus, by instance and by user."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], float] = {}
        self.waiters: dict[tuple[str, str], asyncio.Future[float]] = {}

    async def on_message(self, msg: Msg) -> None:
        event = json.loads(msg.data)
        now = time.perf_counter()
        for key in ((event["type"], event["instance_id"]), (event["type"], event["user_id"])):
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


def standin_process(url: str, webhook_url: str, workdir: Path) -> Child:
    host, port = url.removeprefix("http://").split(":")
    argv = [sys.executable, "-m", "billing.standin", "--host", host, "--port", port]
    argv += ["--webhook-url", webhook_url, "--webhook-secret", SECRET]
    return Child("stripe-standin", argv, os.environ, log=workdir / "stripe-standin.log")


async def checkout(nc: NatsClient, user: uuid.UUID) -> CheckoutSession:
    query = StartCheckout(
        user_id=user,
        plan="starter",
        success_url="http://localhost/done",
        cancel_url="http://localhost/",
        request_id=uuid.uuid4(),
    )
    return await request_on(nc, query, timeout=30)


async def paid_to_running(
    nc: NatsClient, watch: Watch, n: int
) -> tuple[list[float], list[tuple[str, str]]]:
    """Pay n checkouts one after another: Pay pressed → the user's instance running."""
    samples, paid = [], []
    async with httpx.AsyncClient(timeout=30) as browser:
        for _ in range(n):
            user = uuid.uuid4()
            session = await checkout(nc, user)
            running = watch.expect("instance.running", str(user))
            started = time.perf_counter()
            answer = await browser.post(f"{session.url}/pay")
            assert answer.status_code == 303, answer.text
            samples.append((await asyncio.wait_for(running, 30) - started) * 1000)
            paid.append((str(user), session.url.rsplit("/", 1)[1]))
    return samples, paid


async def create_to_running(stack: Stack, watch: Watch, users: list[str]) -> list[float]:
    """For paying users: destroy their instance, then create one through the API."""
    base = f"http://127.0.0.1:{stack.config.port}"
    headers = {"X-API-Key": stack.config.admin_api_key}
    samples = []
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as api:
        for user in users:
            mine = (await api.get("/instances", params={"user_id": user})).json()[0]["id"]
            destroyed = watch.expect("instance.destroyed", mine)
            (await api.delete(f"/instances/{mine}")).raise_for_status()
            await asyncio.wait_for(destroyed, 30)
            started = time.perf_counter()
            created = await api.post("/instances", json={"user_id": user})
            assert created.status_code == 202, created.text
            running = watch.expect("instance.running", created.json()["id"])
            samples.append((await asyncio.wait_for(running, 30) - started) * 1000)
    return samples


async def more_subscriptions(standin_url: str, n: int) -> list[dict[str, Any]]:
    """Subscriptions of other customers, made straight on the local Stripe (so that webhooks in
    flight together are mostly about different subscriptions, as Stripe's are)."""
    headers = {"Authorization": "Bearer sk_test_bench"}
    card = {"card[number]": "4242424242424242", "card[exp_month]": "12", "card[cvc]": "123"}
    made = []
    async with httpx.AsyncClient(base_url=standin_url, headers=headers) as stripe:
        for _ in range(n):
            user = str(uuid.uuid4())
            customer = (await stripe.post("/v1/customers", data={"metadata[user_id]": user})).json()
            token = (
                await stripe.post("/v1/tokens", data={**card, "card[exp_year]": "2040"})
            ).json()
            await stripe.post(
                f"/v1/customers/{customer['id']}/sources", data={"source": token["id"]}
            )
            plan = {"items[0][plan]": "price_claudecloud_starter", "metadata[user_id]": user}
            answer = await stripe.post(
                "/v1/subscriptions", data={"customer": customer["id"], **plan}
            )
            made.append(answer.json())
    return made


async def subscriptions_of(standin_url: str, sessions: list[str]) -> list[dict[str, Any]]:
    headers = {"Authorization": "Bearer sk_test_bench"}
    found = []
    async with httpx.AsyncClient(base_url=standin_url, headers=headers) as stripe:
        for session_id in sessions:
            session = (await stripe.get(f"/v1/checkout/sessions/{session_id}")).json()
            found.append((await stripe.get(f"/v1/subscriptions/{session['subscription']}")).json())
    return found


async def rate(
    count: int, one: Callable[[httpx.AsyncClient, int], Awaitable[None]]
) -> tuple[float, list[float]]:
    """``count`` calls of ``one``, ``CONCURRENCY`` at a time: calls per second and latencies."""
    latencies: list[float] = []
    queue = iter(range(count))

    async def worker(client: httpx.AsyncClient) -> None:
        for index in queue:
            started = time.perf_counter()
            await one(client, index)
            latencies.append((time.perf_counter() - started) * 1000)

    async with httpx.AsyncClient(timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return count / elapsed, latencies


async def webhooks(webhook_url: str, subscriptions: list[dict[str, Any]], n: int) -> Any:
    """Distinct ``customer.subscription.updated`` events over 200 subscriptions: verified,
    stored, the subscription read back from Stripe, synced, marked handled."""

    async def one(client: httpx.AsyncClient, index: int) -> None:
        sub = subscriptions[index % len(subscriptions)]
        event = {
            "id": f"evt_bench_{uuid.uuid4().hex}",
            "object": "event",
            "created": int(time.time()),
            "type": "customer.subscription.updated",
            "data": {"object": sub},
        }
        payload = json.dumps(event).encode()
        headers = {"Content-Type": "application/json", "Stripe-Signature": sign(payload, SECRET)}
        answer = await client.post(webhook_url, content=payload, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["duplicate"] is False

    return await rate(n, one)


async def stripe_reads(standin_url: str, subscriptions: list[dict[str, Any]], n: int) -> Any:
    """What acting on one webhook asks of Stripe (read the subscription), alone."""
    headers = {"Authorization": "Bearer sk_test_bench"}

    async def one(client: httpx.AsyncClient, index: int) -> None:
        sub = subscriptions[index % len(subscriptions)]
        found = await client.get(f"{standin_url}/v1/subscriptions/{sub['id']}", headers=headers)
        found.raise_for_status()

    return await rate(n, one)


async def healthz(billing_url: str, n: int) -> Any:
    async def one(client: httpx.AsyncClient, _index: int) -> None:
        (await client.get(f"{billing_url}/healthz")).raise_for_status()

    return await rate(n, one)


async def main(paid: int, hooks: int) -> None:
    postgres = await asyncio.to_thread(PostgresServer(durable=True).start)
    server = await create_database(postgres.url, "cc_bench_billing")
    workdir = Path(tempfile.mkdtemp(prefix="cc-bench-billing-"))
    standin_url = f"http://127.0.0.1:{free_port()}"
    env = {
        "LOG_LEVEL": "WARNING",
        "BILLING_ENABLED": "true",
        "BILLING_STRIPE_API_BASE": standin_url,
        "BILLING_STRIPE_SECRET_KEY": "sk_test_bench",
        "BILLING_STRIPE_WEBHOOK_SECRET": SECRET,
        "BILLING_SWEEP_SECONDS": "3600",
    }
    config = local_config(workdir, provider="fake", database_url=server, env=env)
    stack = Stack(config)
    billing_url = f"http://127.0.0.1:{stack.spec('billing').http_port}"
    webhook_url = stack.spec("billing").listener_url("WEBHOOK_PORT")
    # Stripe is another machine: the stand-in runs in a process of its own, off billing's CPU.
    stripe = standin_process(standin_url, webhook_url, workdir)
    try:
        stripe.start()
        await asyncio.to_thread(wait_for_health, f"{standin_url}/_standin/healthz", timeout=30)
        await asyncio.to_thread(stack.start)
        watch = Watch()
        nc = await nats.connect(stack.config.resolved_nats_url)
        await nc.subscribe(str(InstanceSubject.ALL_EVENTS), cb=watch.on_message)

        await paid_to_running(nc, watch, 5)  # warm-up
        paid_ms, users = await paid_to_running(nc, watch, paid)
        create_ms = await create_to_running(stack, watch, [u for u, _ in users])
        subscriptions = await subscriptions_of(standin_url, [s for _, s in users])
        subscriptions += await more_subscriptions(standin_url, max(0, 200 - len(subscriptions)))
        await healthz(billing_url, 200)  # warm-up
        base_rate, base_ms = await healthz(billing_url, hooks)
        read_rate, read_ms = await stripe_reads(standin_url, subscriptions, hooks)
        hook_rate, hook_ms = await webhooks(webhook_url, subscriptions, hooks)
        await nc.close()
    finally:
        await asyncio.to_thread(stack.stop_all)
        stripe.stop()
        await asyncio.to_thread(postgres.stop)

    print(f"\nStripe webhooks, {CONCURRENCY} at a time, n={hooks} (Postgres, local Stripe)")
    print(f"  billing /healthz (bus + database ping)  {base_rate:7.1f} /s   {summary(base_ms)}")
    print(f"  the local Stripe's subscription read    {read_rate:7.1f} /s   {summary(read_ms)}")
    print(f"  signed, stored, acted on                {hook_rate:7.1f} /s   {summary(hook_ms)}")
    print(
        f"  webhooks/s = {hook_rate / base_rate:4.2f} of /healthz,"
        f" {hook_rate / read_rate:4.2f} of the Stripe reads they each need"
    )
    ratio = percentile(paid_ms, 50) / percentile(create_ms, 50)
    print(f"\npaying → workstation running, fake provider at zero latency, n={paid}")
    print(f"  create → running through the API     {summary(create_ms)}")
    print(f"  Pay pressed → running (via webhook)  {summary(paid_ms)}")
    print(f"  paid p50 = {ratio:4.2f}x create p50")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paid", type=int, default=30)
    parser.add_argument("--webhooks", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.paid, args.webhooks))
