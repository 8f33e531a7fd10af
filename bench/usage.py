"""The usage page's query: ``GET /billing/usage`` for a user with a year of samples (one per
activity poll, every five minutes: 105,120 ledger rows, and Claude's spend for every day), this
period's series and the whole year's, beside ``GET /billing/status`` in the same run. The gateway
and billing in this process, over NATS and a durable PostgreSQL of their own; requests one at a
time, so the figures are latency, not throughput.

    make bench-usage      (or: uv run python -m bench.usage [--requests 200] [--other-users 50])
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from bench.common import summary
from billing.app import create_app as create_billing
from billing.settings import BillingSettings
from claudecloud_common.server import http_server, listen_socket
from devstack import free_port
from devstack.servers import NatsServer, PostgresServer, create_database
from devstack.waiting import eventually
from gateway.app import create_app as create_gateway
from gateway.auth.service import AccountService
from gateway.settings import GatewaySettings
from gateway.state import GatewayState

POLL = timedelta(minutes=5)
YEAR = timedelta(days=365)
BASE_URL = "http://gateway.bench"


async def seed(url: str, user: uuid.UUID, now: datetime, *, others: int) -> int:
    """A subscription whose period began 20 days ago, a year of samples for ``user`` and
    ``others`` users, and Claude's spend per day; how many ledger rows ``user`` has."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        start = now - timedelta(days=20)
        await conn.execute(
            "INSERT INTO subscriptions (id, user_id, stripe_customer_id, plan, status,"
            " current_period_start, current_period_end, grace_ended, created_at, updated_at)"
            " VALUES ('sub_bench', $1, 'cus_bench', 'starter', 'active', $2, $3, false, $4, $4)",
            user,
            start,
            start + timedelta(days=30),
            now,
        )
        await conn.execute(
            "INSERT INTO billing_periods VALUES ($1, $2, $3, 'sub_bench', 'starter')",
            user,
            start,
            start + timedelta(days=30),
        )
        mine = 0
        for owner in [user, *(uuid.uuid4() for _ in range(others))]:
            rows = _samples(owner, now, start if owner == user else None)
            mine = mine or len(rows)
            await conn.copy_records_to_table(
                "usage_ledger",
                records=rows,
                columns=[
                    "sample_id",
                    "user_id",
                    "instance_id",
                    "seconds",
                    "kind",
                    "billed_seconds",
                    "period_start",
                    "overage_seconds",
                    "recorded_at",
                    "observed_at",
                    "day",
                ],
            )
        await conn.copy_records_to_table(
            "claude_spend",
            records=[
                (
                    uuid.UUID(int=7),
                    (now - timedelta(days=d)).date(),
                    "chat",
                    user,
                    1.5,
                    10_000,
                    2_000,
                    0,
                    0,
                    12,
                    0,
                    None,
                    now,
                )
                for d in range(365)
            ],
        )
        # What billing adds sample by sample, all at once.
        await conn.execute(
            "INSERT INTO usage_days SELECT user_id, day, kind, sum(seconds), sum(billed_seconds)"
            " FROM usage_ledger GROUP BY user_id, day, kind"
        )
        await conn.execute("VACUUM ANALYZE")  # as autovacuum leaves the tables
        return mine
    finally:
        await conn.close()


def _samples(user: uuid.UUID, now: datetime, period: datetime | None) -> list[tuple[object, ...]]:
    instance, at = uuid.uuid4(), now - YEAR
    rows: list[tuple[object, ...]] = []
    while at < now:
        counted = period if period is not None and at >= period else None
        rows.append(
            (uuid.uuid4(), user, instance, 300.0, "running", 300.0, counted, 0, at, at, at.date())
        )
        at += POLL
    return rows


@asynccontextmanager
async def billing(settings: BillingSettings) -> AsyncIterator[None]:
    server = http_server(create_billing(settings), lifespan="on")
    task = asyncio.create_task(
        server.serve(sockets=[listen_socket("127.0.0.1", settings.http_port)])
    )
    await eventually(lambda: server.started or task.done(), what="billing started")
    try:
        yield
    finally:
        server.should_exit = True
        await task


async def signed_in(client: httpx.AsyncClient, state: GatewayState) -> uuid.UUID:
    async with state.db.transaction() as session:
        link = await AccountService(session, state.tokens, base_url=BASE_URL).start_sign_in(
            "bench-usage@example.com"
        )
    token = httpx.URL(link.url).params["token"]
    answer = await client.post(
        "/auth/verify", json={"token": token}, headers={"Accept": "application/json"}
    )
    answer.raise_for_status()
    client.headers["Authorization"] = f"Bearer {answer.json()['token']}"
    return uuid.UUID((await client.get("/auth/me")).json()["user_id"])


async def timed(client: httpx.AsyncClient, path: str, n: int) -> list[float]:
    for _ in range(5):  # warm the caches and the connection pools
        (await client.get(path)).raise_for_status()
    took = []
    for _ in range(n):
        began = time.perf_counter()
        answer = await client.get(path)
        took.append((time.perf_counter() - began) * 1000)
        answer.raise_for_status()
    return took


async def main(requests: int, others: int) -> None:
    postgres = await asyncio.to_thread(PostgresServer(durable=True).start)
    nats_server = await asyncio.to_thread(NatsServer().start)
    folder = Path(tempfile.mkdtemp(prefix="bench-usage-"))
    try:
        db_url = await create_database(postgres.url, "bench_usage_billing")
        billing_settings = BillingSettings(
            data_dir=folder / "billing",
            database_url=db_url,
            nats_url=nats_server.url,
            http_port=free_port(),
            webhook_port=free_port(),
            billing_enabled=True,
            stripe_standin=True,
        )
        gateway_settings = GatewaySettings(
            data_dir=folder / "gateway",
            database_url=None,
            nats_url=nats_server.url,
            base_url=BASE_URL,
            jwt_secret="bench-usage-" + "s" * 40,
            rate_limit_api="1000000/minute",
            billing_enabled=True,
        )
        app = create_gateway(gateway_settings)
        async with billing(billing_settings), app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
                user = await signed_in(client, app.state.gateway)
                rows = await seed(db_url, user, datetime.now(UTC), others=others)
                today = datetime.now(UTC).date()
                year = f"/billing/usage?from={today - timedelta(days=364)}&to={today}"
                baseline = await timed(client, "/billing/status", requests)
                period = await timed(client, "/billing/usage", requests)
                whole = await timed(client, year, requests)
        print(f"GET /billing/usage, a user with {rows:,} samples (a year, one per 5 min) "
              f"among {others + 1} users; {requests} requests each, one at a time")  # fmt: skip
        base = sorted(baseline)[len(baseline) // 2]
        for name, took in (("/billing/status (baseline)", baseline),
                           ("/billing/usage (this period)", period),
                           ("/billing/usage (365 days)", whole)):  # fmt: skip
            p50 = sorted(took)[len(took) // 2]
            print(f"  {name:30} {summary(took)}   x{p50 / base:5.2f} of the baseline's p50")
    finally:
        await asyncio.to_thread(nats_server.stop)
        await asyncio.to_thread(postgres.stop)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--other-users", type=int, default=20)
    args = parser.parse_args()
    try:
        asyncio.run(main(args.requests, args.other_users))
    except KeyboardInterrupt:
        sys.exit(130)
