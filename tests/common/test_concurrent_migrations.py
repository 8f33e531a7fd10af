"""Replicas starting together (deploy/compose.yaml runs two gateways and two provisioners) all
upgrade the same empty database at once: every one must start; none may fail on another's
half-made schema."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from devstack import Child
from tests.support import create_database, drop_database, eventually

pytestmark = pytest.mark.integration

UPGRADE = """
import asyncio, os
from importlib import import_module
from claudecloud_common.migrations import upgrade_to_head
service = os.environ["SERVICE"]
migrations = import_module(f"{service}.app").MIGRATIONS
asyncio.run(upgrade_to_head(os.environ["URL"], migrations, f"alembic_version_{service}"))
"""
REPLICAS = 4


@pytest.mark.parametrize("service", ["gateway", "provisioner"])
async def test_replicas_upgrading_one_empty_database_at_once_all_start(
    service: str, tmp_path: Path
) -> None:
    url = await create_database(f"race_{service}")
    env = {**os.environ, "SERVICE": service, "URL": url}
    replicas = [
        Child(f"{service}-{n}", [sys.executable, "-c", UPGRADE], env, log=tmp_path / f"{n}.log")
        for n in range(REPLICAS)
    ]
    try:
        for replica in replicas:
            replica.start()
        await eventually(
            lambda: all(r.returncode is not None for r in replicas),
            timeout=120,
            interval=0.1,
            what="every replica's upgrade finished",
        )
        failed = {r.name: r.last_lines(5) for r in replicas if r.returncode != 0}
        assert failed == {}
    finally:
        for replica in replicas:
            replica.stop()
        await drop_database(url)
