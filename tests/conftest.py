"""Fixtures every test folder may use."""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.support import SERVERS

# Bus timings short enough for tests; production keeps the defaults.
os.environ.setdefault("BUS_BACKOFF_SECONDS", "[0.2, 0.5, 1.0]")
os.environ.setdefault("BUS_MAX_DELIVER", "4")
os.environ.setdefault("LOG_LEVEL", "WARNING")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
async def nats_url() -> str:
    """The suite's own NATS server (JetStream on), started on first use."""
    return (await asyncio.to_thread(SERVERS.nats)).url


@pytest.fixture(scope="session")
async def redis_url() -> str:
    """The suite's own Redis, started on first use."""
    return (await asyncio.to_thread(SERVERS.redis)).url


def pytest_sessionfinish(session: pytest.Session) -> None:
    SERVERS.stop_all()
