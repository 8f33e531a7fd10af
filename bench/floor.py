"""The floor under the command path: only what one command must do durably, with no framework.

One command costs, at the least, two Postgres commits (admit; record the outcome) and two
JetStream publishes awaited (the command itself; its outcome event). This loop does exactly that
on the same servers as the platform being measured, so the platform's figures read as ratios to
what no implementation on these servers could beat.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from uuid import uuid4

import asyncpg
import nats

__all__ = ["Floor", "measure_floor"]

_CREATE = "CREATE TABLE IF NOT EXISTS bench_floor (id uuid PRIMARY KEY, state text NOT NULL)"
_ADMIT = "INSERT INTO bench_floor VALUES ($1, 'admitted')"
_RECORD = "UPDATE bench_floor SET state = 'done' WHERE id = $1"
_DROP = "DROP TABLE IF EXISTS bench_floor"


@dataclass(frozen=True)
class Floor:
    latencies_ms: list[float]
    """One command's durable work, one at a time."""
    per_second: float
    """Commands per second with ``concurrency`` loops at once (as many as a provisioner runs)."""
    concurrency: int


async def measure_floor(
    postgres_dsn: str, nats_url: str, *, n: int, concurrency: int, subject: str = "benchfloor"
) -> Floor:
    """Measure the floor on the Postgres server ``postgres_dsn`` (a plain ``postgresql://`` DSN)
    and the NATS server at ``nats_url``; leaves no table or stream behind."""
    pool = await asyncpg.create_pool(postgres_dsn, min_size=concurrency, max_size=concurrency)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    stream = f"BENCHFLOOR{uuid4().hex[:8]}"
    await js.add_stream(name=stream, subjects=[f"{subject}.{stream}"])
    try:
        async with pool.acquire() as conn:
            await conn.execute(_CREATE)

        async def one() -> None:
            row = uuid4()
            await js.publish(f"{subject}.{stream}", b"{}", headers={"Nats-Msg-Id": str(row)})
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(_ADMIT, row)
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(_RECORD, row)
            await js.publish(f"{subject}.{stream}", b"{}", headers={"Nats-Msg-Id": f"{row}-done"})

        for _ in range(20):  # warm-up: connections, prepared statements
            await one()
        latencies = []
        for _ in range(n):
            started = time.perf_counter()
            await one()
            latencies.append((time.perf_counter() - started) * 1000)

        queue = max(n, concurrency * 50)

        async def worker(count: int) -> None:
            for _ in range(count):
                await one()

        started = time.perf_counter()
        await asyncio.gather(*(worker(queue // concurrency) for _ in range(concurrency)))
        per_second = (queue // concurrency * concurrency) / (time.perf_counter() - started)
    finally:
        await js.delete_stream(stream)
        await nc.close()
        async with pool.acquire() as conn:
            await conn.execute(_DROP)
        await pool.close()
    return Floor(latencies, per_second, concurrency)
