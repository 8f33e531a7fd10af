"""Plans size the machine: on a real Docker engine, a container gets its plan's CPUs and memory,
and a plan change takes effect at the next wake (the container is made again at the new size,
the user's data volume kept)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import docker
import pytest
from docker.models.containers import Container

from devstack import docker_isolation, remove_deployment
from devstack.engine import DEFAULT_IMAGE, ensure_instance_image
from provisioner.providers import MachineRef, Provider, make_provider
from provisioner.settings import ProvisionerSettings
from tests.support import require_docker_engine

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

IMAGE = DEFAULT_IMAGE
MIB = 1024 * 1024


@pytest.fixture
async def provider() -> AsyncIterator[tuple[Provider, docker.DockerClient]]:
    await asyncio.to_thread(require_docker_engine)
    await asyncio.to_thread(ensure_instance_image, IMAGE)
    deployment, network, _ = docker_isolation("billing", IMAGE)
    settings = ProvisionerSettings(
        provider="docker",
        docker_image=IMAGE,
        docker_network=network,
        docker_deployment=deployment,
        docker_stop_timeout_seconds=2,
    )
    made = make_provider(settings)
    engine = docker.from_env(version="1.41", timeout=120)
    try:
        yield made, engine
    finally:
        await made.close()
        remove_deployment(engine, deployment, network)
        engine.close()


def cpus(container: Container) -> float:
    host = container.attrs["HostConfig"]
    return float(host["CpuQuota"] / host["CpuPeriod"])


async def test_the_plan_sizes_the_container_and_a_change_applies_at_wake(
    provider: tuple[Provider, docker.DockerClient],
) -> None:
    machines, engine = provider
    instance, user = uuid.uuid4(), uuid.uuid4()
    starter = MachineRef(instance, user, cpus=0.5, memory_mb=512)
    pro = MachineRef(instance, user, cpus=1.0, memory_mb=768)

    await machines.create(starter)
    first = engine.containers.get(f"claude-{user}")
    code, _ = first.exec_run(["bash", "-c", "echo kept > /claude-data/note"], user="claude")
    assert code == 0
    assert first.attrs["HostConfig"]["Memory"] == 512 * MIB
    assert cpus(first) == 0.5

    await machines.pause(starter, keep_memory=False)
    await machines.wake(pro)  # the user moved to a bigger plan while paused
    second = engine.containers.get(f"claude-{user}")
    code, output = second.exec_run(["cat", "/claude-data/note"], user="claude")

    assert second.id == first.id  # resized in place (docker update), not made again
    assert second.attrs["HostConfig"]["Memory"] == 768 * MIB
    assert cpus(second) == 1.0
    assert (code, output.decode().strip()) == (0, "kept")

    await machines.pause(pro, keep_memory=False)
    await machines.wake(pro)  # same plan: the same container starts again
    assert engine.containers.get(f"claude-{user}").id == second.id
