"""The netbird service's part of the reconciliation check: a mesh made by the real saga (hetzner
provisioner, stand-in Terraform, fake Netbird), then its instance marked destroyed behind the mesh's
back (as a lost ``destroyed`` event leaves it). The check finds the mesh; ``fix`` tears it down."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from claudecloud_common.contracts.ops import CheckNetbird, CheckReport, DriftKind
from claudecloud_common.rpc import request_on
from tests.netbird.conftest import Platform, PlatformFactory
from tests.support import create_database, drop_database, eventually

NOTHING = {"groups": 0, "setup_keys": 0, "routes": 0, "policies": 0}


# Databases of their own: the check counts every mesh, so no other test's may be there.
@pytest.fixture
async def netbird_db() -> AsyncIterator[str]:
    url = await create_database("cc_check_netbird")
    yield url
    await drop_database(url)


@pytest.fixture
async def provisioner_db() -> AsyncIterator[str]:
    url = await create_database("cc_check_provisioner")
    yield url
    await drop_database(url)


async def check(p: Platform, *, fix: bool = False) -> CheckReport:
    return await request_on(p.bus, CheckNetbird(fix=fix), timeout=20)


def mesh_resources(p: Platform) -> dict[str, int]:
    found = p.netbird.resources()
    return {k: found[k] for k in NOTHING}


async def test_a_mesh_whose_instance_is_gone_is_found_and_fix_tears_it_down(
    platform: PlatformFactory, provisioner_db: str
) -> None:
    async with platform() as p:
        instance_id, _user_id = await p.create()
        await p.until_status(instance_id, "running", timeout=60)  # a loaded machine is slow
        [clean] = (await check(p)).findings
        assert (clean.kind, clean.count) == (DriftKind.MESH_WITHOUT_INSTANCE, 0)

        engine = create_async_engine(provisioner_db)
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE instances SET status = 'destroyed' WHERE id = :id"),
                {"id": instance_id},
            )
        await engine.dispose()

        [found] = (await check(p)).findings
        assert (found.count, found.samples, found.fixable) == (1, [str(instance_id)], True)
        assert mesh_resources(p) == {"groups": 1, "setup_keys": 1, "routes": 1, "policies": 1}

        [fixed] = (await check(p, fix=True)).findings
        assert fixed.fixed == 1
        assert mesh_resources(p) == NOTHING
        await eventually(
            lambda: p.seen.of(instance_id, "netbird.torn_down"),
            timeout=30,
            what="the teardown announced",
        )
        [after] = (await check(p)).findings
        assert after.count == 0
