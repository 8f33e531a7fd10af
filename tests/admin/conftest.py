"""The operator's command against a real NATS (the suite's own) with the real provisioner running
in this process on the suite's PostgreSQL: dead letters made the way production makes them.

The streams are shared with the other bus tests of the run, so each test finds its own messages
by the ids it made up, never by counting everything on a stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import nats
import pytest
from claudecloud_admin.main import app
from nats.aio.client import Client as NatsClient
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner, Result

from tests.provisioner_app import ProvisionerFactory, provisioner_factory
from tests.support import create_database, drop_database


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    url = await create_database("cc_admin")
    yield url
    await drop_database(url)


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[NatsClient]:
    nc = await nats.connect(nats_url)
    yield nc
    await nc.close()


@pytest.fixture
def provisioner(database_url: str, nats_url: str, tmp_path: Path) -> ProvisionerFactory:
    """Start the real provisioner app (migrations, streams, relay, subscribers)."""
    return provisioner_factory(database_url, nats_url, tmp_path)


Admin = Callable[..., Any]


@pytest.fixture
def admin(nats_url: str) -> Admin:
    """Run ``claude-cloud-admin --nats <suite's NATS> ARGS...`` as a terminal would; its output
    and exit code come back (it runs its own event loop, so in a thread)."""

    async def run(*args: str) -> Result:
        runner = CliRunner()
        return await asyncio.to_thread(lambda: runner.invoke(app, ["--nats", nats_url, *args]))

    return run


@pytest.fixture
async def rename_table(database_url: str) -> AsyncIterator[Callable[[str, str], Any]]:
    """Rename a table of the provisioner's database (an outage its handlers cannot survive)."""
    engine = create_async_engine(database_url)

    async def rename(old: str, new: str) -> None:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f'ALTER TABLE "{old}" RENAME TO "{new}"')

    yield rename
    await engine.dispose()


def bare(**fields: object) -> bytes:
    """A command as ``nats pub`` sends it: bare JSON, no envelope, no headers."""
    return json.dumps({k: str(v) for k, v in fields.items()}).encode()
