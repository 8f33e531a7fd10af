"""The reconciliation check on a real Docker engine: a container started by hand with our labels
(no instance owns it) is found by ``claude-cloud-admin check`` and removed by ``--fix``, its data
volume kept; one labelled for another deployment is never touched.

The provisioner runs in this process with the docker provider, a deployment name of its own, the
suite's NATS and a database of its own; no instance is created, so only the instance image (which
the docker tier builds anyway) is needed for the hand-made container.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import docker
import pytest
from claudecloud_admin.main import app
from docker.models.containers import Container
from faststream import TestApp
from typer.testing import CliRunner, Result

from provisioner.app import create_app
from provisioner.settings import ProvisionerSettings
from tests.support import create_database, drop_database

from .conftest import IMAGE

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    url = await create_database("cc_check_docker")
    yield url
    await drop_database(url)


def by_hand(engine: docker.DockerClient, deployment: str) -> Container:
    """A running container with our labels, as someone would start it outside the platform."""
    user_id = uuid.uuid4()
    container: Container = engine.containers.run(
        IMAGE,
        ["sleep", "600"],
        name=f"claude-check-{user_id}",
        labels={
            "io.claudecloud.managed": "true",
            "io.claudecloud.deployment": deployment,
            "io.claudecloud.instance-id": str(uuid.uuid4()),
            "io.claudecloud.user-id": str(user_id),
        },
        detach=True,
    )
    return container


async def admin(nats_url: str, *args: str) -> Result:
    argv = ["--nats", nats_url, *args]

    def invoke() -> Result:
        return CliRunner().invoke(app, argv)

    return await asyncio.to_thread(invoke)


def table_row(result: Result, kind: str) -> list[str]:
    """The table's row of ``kind`` for the provisioner (the lines after the table explain)."""
    rows = [line.split() for line in result.output.splitlines()]
    [row] = [cells for cells in rows if cells[:2] == [kind, "provisioner"]]
    return row


async def test_a_container_started_by_hand_is_found_and_fix_removes_only_it(
    engine: docker.DockerClient, nats_url: str, database_url: str, tmp_path: Path
) -> None:
    deployment = f"check-{uuid.uuid4().hex[:8]}"
    settings = ProvisionerSettings(
        data_dir=tmp_path,
        provider="docker",
        database_url=database_url,
        nats_url=nats_url,
        docker_deployment=deployment,
        docker_network=f"{deployment}-net",
        reconcile_on_start=False,
        check_interval_seconds=0,
    )
    ours = by_hand(engine, deployment)
    theirs = by_hand(engine, f"{deployment}-other")  # another deployment's: never ours to touch
    try:
        async with TestApp(create_app(settings)):
            found = await admin(nats_url, "check")
            assert table_row(found, "machine_without_row")[1:5] == [
                "provisioner",
                "1",
                "0",
                ours.id,
            ], found.output
            assert found.exit_code == 1

            fixed = await admin(nats_url, "check", "--fix")
            assert table_row(fixed, "machine_without_row")[1:4] == ["provisioner", "1", "1"]
        with pytest.raises(docker.errors.NotFound):
            ours.reload()
        theirs.reload()
        assert theirs.status == "running"
    finally:
        for container in (ours, theirs):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
