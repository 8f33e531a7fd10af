"""Tests on a real Docker engine: the real processes (as ``make run`` starts them) with the docker
provider, driven through the gateway.

The engine is started when it does not answer (``scripts/docker-engine.sh``) and the instance
image is built when missing or stale (``docker/instance/build.sh``); when either cannot be had the
tests fail, never skip. Everything a session makes is labelled with its own deployment name and
network, and removed at the end, so sessions never touch each other's containers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import docker
import httpx
import pytest
from docker.models.containers import Container

from devstack import Stack, docker_isolation, local_config, remove_deployment
from devstack.engine import ensure_instance_image
from tests.support import eventually as _eventually
from tests.support import require_docker_engine

IMAGE = "claudecloud/instance:latest"
DEPLOYMENT_LABEL = "io.claudecloud.deployment"

pytestmark = pytest.mark.timeout(600)


async def eventually(
    probe: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.1, what: str = "it"
) -> Any:
    """:func:`tests.support.eventually` with the longer patience containers need."""
    return await _eventually(probe, timeout=timeout, interval=interval, what=what)


@dataclass
class DockerPlatform:
    """The running platform on Docker, and what a test needs to look at it."""

    stack: Stack
    engine: docker.DockerClient
    api: httpx.AsyncClient
    deployment: str
    network: str
    base_env: dict[str, str]

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

    async def create(self, user_id: uuid.UUID) -> dict[str, Any]:
        response = await self.api.post("/instances", json={"user_id": str(user_id)})
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body

    async def get(self, instance_id: str) -> dict[str, Any]:
        response = await self.api.get(f"/instances/{instance_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def act(self, instance_id: str, verb: str, *, purge: bool = False) -> None:
        """``pause``, ``wake`` or ``destroy`` (``DELETE``, with ``purge``) through the gateway."""
        if verb == "destroy":
            params = {"purge": "true"} if purge else {}
            response = await self.api.delete(f"/instances/{instance_id}", params=params)
        else:
            response = await self.api.post(f"/instances/{instance_id}/{verb}")
        assert response.status_code == 202, response.text

    async def wait_status(
        self, instance_id: str, status: str, timeout: float = 60
    ) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            view = await self.get(instance_id)
            if view["status"] == "failed" and status != "failed":
                raise AssertionError(f"instance failed: {view['reason']}")
            return view if view["status"] == status else None

        found: dict[str, Any] = await eventually(
            reached, timeout=timeout, interval=0.05, what=f"status {status}"
        )
        return found

    def restart_provisioner(self, **env: str) -> None:
        """Restart the provisioner with ``env`` over the session's settings."""
        self.stack.stop("provisioner")
        self.stack.config.extra_env = {**self.base_env, **env}
        self.stack.start_service(self.stack.spec("provisioner"))


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
    deployment, network, isolation = docker_isolation("test", IMAGE)
    tmp = tmp_path_factory.mktemp("docker-stack")
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
        yield DockerPlatform(stack, engine, api, deployment, network, env)
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


def agent_secret(container: Container) -> str:
    env = dict(e.split("=", 1) for e in container.attrs["Config"]["Env"])
    return str(env["AGENT_SECRET"])
