"""Fixtures every test folder may use."""

from __future__ import annotations

import os

import pytest

# Bus timings short enough for tests; production keeps the defaults.
os.environ.setdefault("BUS_BACKOFF_SECONDS", "[0.2, 0.5, 1.0]")
os.environ.setdefault("BUS_MAX_DELIVER", "4")
os.environ.setdefault("LOG_LEVEL", "WARNING")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
