"""Fixtures every test folder may use, the suite's own servers, and each test's tier."""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from devstack.local import hermetic_environ
from tests.support import SERVERS

# The suite never uses a server it did not start, even when the shell points at one
# (DATABASE_URL, NATS_URL, REDIS_URL, GATEWAY_*, ...): in-process services read os.environ too.
for _name in set(os.environ) - set(hermetic_environ()):
    del os.environ[_name]

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


TIERS = ("unit", "integration", "e2e", "docker")
FOLDER_TIERS = {
    # folder under tests/ (the longest match wins) -> tier; a module may set its own pytestmark.
    # The folders mirror the code: tests/<service or library>/, a sub-folder per heavier tier.
    "admin": "integration",
    "cli": "unit",
    "common": "unit",
    "provisioner": "unit",
    "provisioner/bus": "integration",
    "provisioner/docker": "docker",
    "provisioner/kubernetes": "integration",
    "provisioner/lifecycle": "e2e",  # each provider's parameter says its own tier
    "gateway": "unit",
    "gateway/signin": "e2e",
    "gateway/workspace": "docker",
    "gateway/credentials": "docker",
    "gateway/git": "integration",  # a local GitHub on a port of its own
    "gateway/git/docker": "docker",
    "activity": "integration",
    "audit": "integration",
    "bench": "unit",  # the benchmarks' pure helpers
    "webhooks": "integration",
    "netbird": "integration",
    "agent": "e2e",
    "agentapi": "unit",
    "devstack": "e2e",
    "e2e": "e2e",
    "web": "docker",
}
_HERE = Path(__file__).parent


def tier_of(path: Path) -> str | None:
    """The tier of a test file from its folder under ``tests/``."""
    try:
        parts = path.relative_to(_HERE).parent.parts
    except ValueError:
        return None
    for depth in range(len(parts), 0, -1):
        found = FOLDER_TIERS.get("/".join(parts[:depth]))
        if found:
            return found
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give each test its tier, so ``make test-<tier>`` (``pytest -m <tier>``) runs one alone;
    a test without one stops the run rather than escape every tier."""
    unplaced = set()
    for item in items:
        if any(item.get_closest_marker(tier) for tier in TIERS):
            continue
        tier = tier_of(item.path)
        if tier is None:
            unplaced.add(str(item.path))
        else:
            item.add_marker(tier)
    for item in items:
        _bound(item)
    if unplaced:
        raise pytest.UsageError(
            "these test files have no tier; add their folder to FOLDER_TIERS in tests/conftest.py"
            " or give the module a pytestmark (unit, integration, e2e, docker):\n  "
            + "\n  ".join(sorted(unplaced))
        )


def _bound(item: pytest.Item) -> None:
    """Run an async test under a deadline a little before pytest-timeout's, in its own loop.

    Every test shares the session's event loop. pytest-timeout interrupts a test from a signal
    handler, which abandons the test's tasks in that loop: its services stay subscribed and take
    the next tests' messages, and one hang fails every test after it. Timed out here instead, the
    test is cancelled where it waits (the traceback names that await) and its cleanup runs."""
    test = getattr(item, "obj", None)
    if not isinstance(item, pytest.Function) or not inspect.iscoroutinefunction(test):
        return
    marker = item.get_closest_marker("timeout")
    limit = float(marker.args[0] if marker and marker.args else item.config.getini("timeout"))
    if limit <= 0:
        return
    item.obj = _with_deadline(test, limit - min(15.0, limit * 0.1))


def _with_deadline(
    test: Callable[..., Awaitable[Any]], seconds: float
) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(test)
    async def bounded(*args: Any, **kwargs: Any) -> Any:
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                return await test(*args, **kwargs)
        except TimeoutError as exc:
            if not deadline.expired():
                raise  # the test's own
            raise AssertionError(
                f"the test did not end within {seconds:.0f} s; the traceback above shows where"
                " it waited"
            ) from exc

    return bounded
