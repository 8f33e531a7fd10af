"""The reconciliation check on a real Docker engine, as ``claude-cloud-admin check`` shows it: a
container started by hand with our labels (no instance owns it) is found and removed by ``--fix``
while one labelled for another deployment is never touched; an instance whose agent stops
answering (SIGSTOP: the process lives, the supervisor sees nothing to restart) is found.

The services run in this process with the docker provider, a deployment and network of their own,
the suite's NATS and databases of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import docker
import nats
import pytest
from claudecloud_admin.main import app
from docker.models.containers import Container
from faststream import TestApp
from nats.aio.client import Client as NatsClient
from typer.testing import CliRunner, Result

from activity.app import create_app as create_activity
from activity.settings import ActivitySettings
from claudecloud_common.contracts.instances import CreateInstance, GetInstance
from claudecloud_common.rpc import RemoteError, request_on
from devstack import docker_isolation, remove_deployment
from provisioner.app import create_app
from provisioner.settings import ProvisionerSettings
from tests.support import create_database, drop_database, eventually

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


def table_row(result: Result, kind: str, service: str = "provisioner") -> list[str]:
    """The table's row of ``kind`` for ``service`` (the lines after the table explain)."""
    rows = [line.split() for line in result.output.splitlines()]
    [row] = [cells for cells in rows if cells[:2] == [kind, service]]
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


@pytest.fixture
async def activity_db() -> AsyncIterator[str]:
    url = await create_database("cc_check_docker_activity")
    yield url
    await drop_database(url)


async def instance_status(bus: NatsClient, instance_id: uuid.UUID) -> str | None:
    try:
        view = await request_on(bus, GetInstance(instance_id=instance_id), timeout=5)
    except RemoteError as exc:
        if exc.error != "InstanceNotFound":
            raise
        return None
    if view.status.value == "failed":
        raise AssertionError(f"the instance failed: {view.reason}")
    return view.status.value


async def test_an_agent_that_stops_answering_is_found(
    engine: docker.DockerClient,
    nats_url: str,
    database_url: str,
    activity_db: str,
    tmp_path: Path,
) -> None:
    deployment, network, _env = docker_isolation("check", IMAGE)
    provisioner = ProvisionerSettings(
        data_dir=tmp_path,
        provider="docker",
        database_url=database_url,
        nats_url=nats_url,
        docker_image=IMAGE,
        docker_deployment=deployment,
        docker_network=network,
        docker_memory="1g",
        docker_stop_timeout_seconds=2,
        bus_ack_wait_seconds=90,
        check_interval_seconds=0,
    )
    activity = ActivitySettings(
        data_dir=tmp_path, database_url=activity_db, nats_url=nats_url, agent_timeout_seconds=2
    )
    user_id, instance_id = uuid.uuid4(), uuid.uuid4()
    bus = await nats.connect(nats_url)
    try:
        async with TestApp(create_app(provisioner)), TestApp(create_activity(activity)):
            create = CreateInstance(instance_id=instance_id, user_id=user_id)
            await bus.jetstream().publish(
                str(create.subject),
                create.model_dump_json().encode(),
                headers={"Nats-Msg-Id": str(create.id)},
            )

            async def running() -> bool:
                return await instance_status(bus, instance_id) == "running"

            await eventually(running, timeout=120, what="the instance running")
            answering = await admin(nats_url, "check", "--timeout", "20")
            assert table_row(answering, "agent_not_answering", "activity")[2] == "0", (
                answering.output
            )

            box = engine.containers.get(f"claude-{user_id}")
            # As its own user: the container has no capability to signal another's processes.
            code, _ = box.exec_run(["pkill", "-STOP", "-f", "--", "-m agent"], user="claude")
            assert code == 0, "no agent process to stop"

            silent = await admin(nats_url, "check", "--timeout", "20")
        row = table_row(silent, "agent_not_answering", "activity")
        assert row[2:5] == ["1", "-", str(instance_id)], silent.output
        assert silent.exit_code == 1
    finally:
        await bus.close()
        remove_deployment(engine, deployment, network)
