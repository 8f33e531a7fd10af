"""Tests on a real Docker engine: the real processes (as ``make run`` starts them) with the docker
provider, driven through the gateway.

The engine is started when it does not answer (``scripts/docker-engine.sh``) and the instance
image is built when missing or stale (``docker/instance/build.sh``); when either cannot be had the
tests fail, never skip. Everything a session makes is labelled with its own deployment name and
network, and removed at the end, so sessions never touch each other's containers.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from docker.models.containers import Container

from devstack import Stack, docker_isolation, local_config, remove_deployment
from devstack.engine import DEFAULT_IMAGE, ensure_instance_image
from tests.provisioner.platform import Platform
from tests.support import agent_secret_of, require_docker_engine
from tests.support import eventually as _eventually

IMAGE = DEFAULT_IMAGE
DEPLOYMENT_LABEL = "io.claudecloud.deployment"

pytestmark = pytest.mark.timeout(600)


async def eventually(
    probe: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.1, what: str = "it"
) -> Any:
    """:func:`tests.support.eventually` with the longer patience containers need."""
    return await _eventually(probe, timeout=timeout, interval=interval, what=what)


@dataclass
class DockerPlatform(Platform):
    """The running platform on Docker, and what a test needs to look at it."""

    engine: docker.DockerClient
    deployment: str
    network: str

    def container(self, user_id: uuid.UUID) -> Container | None:
        try:
            found: Container = self.engine.containers.get(f"claude-{user_id}")
        except docker.errors.NotFound:
            return None
        return found

    def volume_exists(self, user_id: uuid.UUID) -> bool:
        try:
            self.engine.volumes.get(f"claude-data-{user_id}")
        except docker.errors.NotFound:
            return False
        return True


@pytest.fixture(scope="session")
def engine() -> Iterator[docker.DockerClient]:
    """A Docker engine that answers and an up-to-date instance image, or a loud failure."""
    require_docker_engine()
    ensure_instance_image(IMAGE)
    client = docker.from_env(version="1.41", timeout=120)
    yield client
    client.close()


@pytest.fixture(scope="session")
async def platform(
    engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory, request: Any
) -> AsyncIterator[DockerPlatform]:
    tmp = tmp_path_factory.mktemp("docker-stack")
    async with docker_platform(engine, tmp, request) as running:
        yield running


@contextlib.asynccontextmanager
async def docker_platform(
    engine: docker.DockerClient, tmp: Path, request: Any
) -> AsyncIterator[DockerPlatform]:
    """The platform's processes on the docker provider with a deployment and network of their
    own, removed afterwards (their logs printed when a test of the session failed)."""
    deployment, network, isolation = docker_isolation("test", IMAGE)
    env = {
        **isolation,
        "PROVISIONER_DOCKER_MEMORY": "1g",
        "PROVISIONER_DOCKER_STOP_TIMEOUT_SECONDS": "5",
        "PROVISIONER_BUS_ACK_WAIT_SECONDS": "90",
        "OUTBOX_POLL_SECONDS": "0.5",
        "GATEWAY_ADMISSION_TIMEOUT_SECONDS": "2",
    }
    config = local_config(tmp, provider="docker", env=env)
    stack = Stack(config)
    await asyncio.to_thread(stack.start)
    api = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{config.port}",
        headers={"X-API-Key": config.admin_api_key},
        timeout=30,
    )
    try:
        yield DockerPlatform(stack, api, env, engine, deployment, network)
    finally:
        await api.aclose()
        stack.stop_all()
        remove_deployment(engine, deployment, network)
        if request.session.testsfailed:
            for log in sorted((tmp / "logs").glob("*.log")):
                print(f"----- {log} -----\n{log.read_text()[-8000:]}")


def exec_in(container: Container, command: str, user: str = "claude") -> tuple[int, str]:
    code, output = container.exec_run(["bash", "-c", command], user=user)
    return code, output.decode(errors="replace")


def agent_secret(platform: DockerPlatform, instance_id: str) -> str:
    return agent_secret_of(platform.stack, instance_id)
