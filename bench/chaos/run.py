"""One chaos run: start the platform, sign users in, run the lifecycles from several clients
while faults land, restart everything, wait for quiet, count, run the check."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats

from devstack.waiting import eventually

from .client import ChaosClient, Command
from .faults import FaultLog, FaultPlan, Faults
from .figures import (
    TRANSITIONAL,
    Figures,
    add_faults,
    count_commands,
    count_doubles,
    count_instances,
    count_resumed,
    count_rows,
    run_check,
)
from .platform import Platform, make_platform

QUIET_TIMEOUT_SECONDS = 120.0
STREAMS = ("CMD", "EVT")


@dataclass(frozen=True)
class ChaosPlan:
    lifecycles: int
    clients: int
    faults: FaultPlan
    provider: str = "fake"
    billing: bool = False
    """Creates need a subscription: each client's first lifecycle pays for it on the local
    Stripe (billing asks for the instance), the others create through the API."""
    settle: float = 300.0
    """Seconds a command may take to reach its final state before it counts as lost."""


async def run_chaos(
    plan: ChaosPlan, folder: Path, *, database_url: str | None
) -> tuple[Figures, FaultLog, Platform]:
    """Run ``plan`` on a platform under ``folder``; the platform is stopped on return."""
    platform = make_platform(
        folder, provider=plan.provider, database_url=database_url, billing=plan.billing
    )
    figures = Figures(lifecycles=plan.lifecycles)
    started = time.monotonic()
    await platform.start()
    try:
        clients = await _sign_in(platform, plan.clients, plan.settle)
        faults = Faults(platform, plan.faults)
        commands = await _drive(plan, clients, faults, figures, platform)
        await platform.restart_everything()
        rows = await _quiet(platform)
        count_commands(figures, commands)
        count_doubles(figures, commands, platform.machines)
        count_instances(figures, rows, commands)
        count_rows(figures, rows, platform.machines)
        if platform.stack.config.log_dir is not None:
            count_resumed(figures, platform.stack.config.log_dir)
        add_faults(figures, faults.log)
        figures.check_exit, figures.check_output = await asyncio.to_thread(
            run_check, platform.nats_url
        )
        figures.wall_seconds = time.monotonic() - started
        return figures, faults.log, platform
    finally:
        await platform.stop()


async def _sign_in(platform: Platform, n: int, settle: float) -> list[ChaosClient]:
    signed = [await platform.sign_in(f"chaos-{i}@example.com") for i in range(n)]
    return [ChaosClient(platform.base_url, token, user, settle=settle) for token, user in signed]


async def _drive(
    plan: ChaosPlan,
    clients: list[ChaosClient],
    faults: Faults,
    figures: Figures,
    platform: Platform,
) -> list[Command]:
    """The lifecycles shared out among the clients, each running its share in turn; with
    billing, a client's first create is paid and its last lifecycle cancels the subscription."""
    started, finished = [0], [0]
    shares = [len(range(i, plan.lifecycles, len(clients))) for i in range(len(clients))]

    async def client_loop(client: ChaosClient, share: int) -> None:
        for turn in range(share):
            started[0] += 1
            # The k-th lifecycle starts once k/N of the faults have landed: all land among them.
            await faults.reached(started[0] / plan.lifecycles)
            first, last = turn == 0, turn == share - 1
            completed = await client.lifecycle(  # before the +=: others run meanwhile
                paid=plan.billing and first, cancel=plan.billing and last
            )
            figures.lifecycles_done += completed
            finished[0] += 1
            if finished[0] % 10 == 0:
                print(f"chaos: {finished[0]} lifecycles finished", flush=True)

    done = asyncio.Event()
    chaos = asyncio.create_task(faults.run(done))
    retries = [asyncio.create_task(platform.stripe.retry_webhooks(done))] if platform.stripe else []
    try:
        await asyncio.gather(*(client_loop(c, n) for c, n in zip(clients, shares, strict=True)))
    finally:
        done.set()
        await asyncio.gather(chaos, *retries)
        for client in clients:
            await client.close()
    figures.retries = sum(c.stats.retries for c in clients)
    return [command for c in clients for command in c.stats.commands]


async def _quiet(platform: Platform) -> list[dict[str, Any]]:
    """Every instance row once none is in a transitional state (or the rows at the deadline,
    the transitional ones then counted as stuck)."""
    rows: list[dict[str, Any]] = []
    async with platform.admin() as api:

        async def settled() -> bool:
            response = await api.get("/instances")
            if response.status_code != 200:
                return False
            rows[:] = response.json()
            return not any(row["status"] in TRANSITIONAL for row in rows)

        with contextlib.suppress(AssertionError):
            await eventually(settled, timeout=QUIET_TIMEOUT_SECONDS, interval=0.5, what="quiet")
    with contextlib.suppress(AssertionError):
        await eventually(
            lambda: _drained(platform.nats_url),
            timeout=QUIET_TIMEOUT_SECONDS,
            interval=0.5,
            what="every consumer caught up",
        )
    return rows


async def _drained(nats_url: str) -> bool:
    """Every durable consumer has handled and acknowledged all it was given: the services
    have seen every command and event (the check compares what they then hold)."""
    nc = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        for stream in STREAMS:
            for consumer in await js.consumers_info(stream):
                if consumer.num_pending or consumer.num_ack_pending:
                    return False
        return True
    finally:
        await nc.close()
