"""Through the gateway, on real containers: the platform's processes with the docker provider and
an instance image whose ``claude`` is the tests' stand-in (``CLAUDE_CODE=standin``).

Two signed-in users (A and B), each with a running instance, are shared by these tests.
Everything this session makes carries its own deployment label and is removed at the end.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from docker.models.containers import Container

from devstack import Stack, docker_isolation, local_config, remove_deployment
from devstack.engine import ROOT, STANDIN_IMAGE
from devstack.signin import sign_in_from_log as sign_in
from tests.support import eventually, require_docker_engine
from tests.ttyd import Terminal

IMAGE = STANDIN_IMAGE
ORIGIN = "http://dashboard.test"
TICKET_TTL_SECONDS = 4.0
PING_SECONDS = 2.0
"""The gateway pings both legs of a socket this often (its default is 20 s)."""
SESSION_SETUP = "/opt/claudecloud/bin/tmux-session.sh"
SHELL_PANE = "'claude:0.{right}'"

pytestmark = pytest.mark.timeout(600)


@dataclass
class User:
    email: str
    token: str
    instance_id: str
    container: Container
    host: str
    """``ADDR:PORT`` of the instance's agent, as the provisioner knows it."""

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Proxied:
    """The running platform and two users with running instances."""

    stack: Stack
    engine: docker.DockerClient
    base_url: str
    admin: httpx.AsyncClient
    network: str
    a: User
    b: User

    @property
    def ws_base(self) -> str:
        return self.base_url.replace("http://", "ws://", 1)

    def api(self, user: User) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, headers=user.bearer, timeout=60)

    async def ticket(self, user: User, instance: User | None = None) -> str:
        target = (instance or user).instance_id
        async with self.api(user) as api:
            response = await api.post(f"/instances/{target}/tickets")
        assert response.status_code == 201, response.text
        ticket: str = response.json()["ticket"]
        return ticket

    async def terminal(self, user: User, **kwargs: Any) -> Terminal:
        ticket = await self.ticket(user)
        url = f"{self.ws_base}/instances/{user.instance_id}/terminal?ticket={ticket}"
        return await Terminal.open(url, origin=ORIGIN, **kwargs)

    async def new_user(self, name: str) -> User:
        """Another signed-in user with a running instance, for tests that change its session."""
        assert self.stack.config.log_dir is not None
        log = self.stack.config.log_dir / "gateway.log"
        return await _user(self.base_url, self.admin, self.engine, log, name)

    def bridge_gateway(self) -> str:
        """The host's address on the instances' network, as a container reaches the host."""
        network = self.engine.networks.get(self.network)
        gateway: str = network.attrs["IPAM"]["Config"][0]["Gateway"]
        return gateway


def build_standin_image() -> None:
    env = {"INSTANCE_IMAGE": IMAGE, "CLAUDE_CODE": "standin"}
    build = ROOT / "docker" / "instance" / "build.sh"
    result = subprocess.run(["bash", str(build)], env={**_environ(), **env}, check=False)
    if result.returncode != 0:
        pytest.fail(f"building {IMAGE} failed")


def _environ() -> dict[str, str]:
    return dict(os.environ)


@pytest.fixture(scope="session")
def standin_engine() -> Iterator[docker.DockerClient]:
    require_docker_engine()
    build_standin_image()
    client = docker.from_env(version="1.41", timeout=120)
    yield client
    client.close()


@pytest.fixture(scope="session")
async def proxied(
    standin_engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory, request: Any
) -> AsyncIterator[Proxied]:
    deployment, network, isolation = docker_isolation("test", IMAGE)
    tmp = tmp_path_factory.mktemp("proxy-stack")
    env = {
        **isolation,
        "PROVISIONER_DOCKER_MEMORY": "1g",
        "PROVISIONER_DOCKER_STOP_TIMEOUT_SECONDS": "3",
        "PROVISIONER_BUS_ACK_WAIT_SECONDS": "90",
        "OUTBOX_POLL_SECONDS": "0.2",
        "GATEWAY_ADMISSION_TIMEOUT_SECONDS": "2",
        "GATEWAY_DASHBOARD_ORIGINS": ORIGIN,
        "GATEWAY_TICKET_TTL_SECONDS": str(TICKET_TTL_SECONDS),
        "GATEWAY_WS_PING_INTERVAL_SECONDS": str(PING_SECONDS),
        "GATEWAY_RATE_LIMIT_API": "100000/minute",
        "GATEWAY_RATE_LIMIT_LOGIN": "1000/minute",  # tests sign in a user of their own each
        "LOG_LEVEL": "INFO",
    }
    config = local_config(tmp, provider="docker", env=env)
    stack = Stack(config)
    await asyncio.to_thread(stack.start)
    base_url = f"http://127.0.0.1:{config.port}"
    admin = httpx.AsyncClient(
        base_url=base_url, headers={"X-API-Key": config.admin_api_key}, timeout=60
    )
    try:
        log = tmp / "logs" / "gateway.log"
        a = await _user(base_url, admin, standin_engine, log, "a")
        b = await _user(base_url, admin, standin_engine, log, "b")
        yield Proxied(stack, standin_engine, base_url, admin, network, a, b)
    finally:
        await admin.aclose()
        stack.stop_all()
        remove_deployment(standin_engine, deployment, network)
        if request.session.testsfailed:
            for path in sorted((tmp / "logs").glob("*.log")):
                print(f"----- {path} -----\n{path.read_text()[-6000:]}")


async def _user(
    base_url: str, admin: httpx.AsyncClient, engine: docker.DockerClient, log: Path, name: str
) -> User:
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    token = await sign_in(base_url, log, email)
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as api:
        created = await api.post("/instances", headers={"Authorization": f"Bearer {token}"})
    assert created.status_code == 202, created.text
    instance_id = created.json()["id"]

    async def running() -> dict[str, Any] | None:
        view: dict[str, Any] = (await admin.get(f"/instances/{instance_id}")).json()
        if view["status"] == "failed":
            raise AssertionError(f"instance failed: {view['reason']}")
        return view if view["status"] == "running" else None

    view = await eventually(running, timeout=90, what=f"{name}'s instance running")
    container = engine.containers.get(f"claude-{view['user_id']}")
    # Claude signed in its own way (what /login leaves in the home), so chat turns answer.
    login = "mkdir -p ~/.claude && echo '{\"claudeAiOauth\": {}}' > ~/.claude/.credentials.json"
    code, output = exec_in(container, login)
    assert code == 0, output
    select_shell_pane(container)
    return User(email, token, instance_id, container, view["host"])


def select_shell_pane(container: Container) -> None:
    """Tests type commands into the shell pane (the left one is Claude Code's, the stand-in);
    a started container's session is new, so this is done again after each stop."""
    code, output = exec_in(container, f"{SESSION_SETUP} ensure && tmux select-pane -t {SHELL_PANE}")
    assert code == 0, output


def exec_in(container: Container, command: str) -> tuple[int, str]:
    code, output = container.exec_run(["bash", "-c", command], user="claude")
    return code, output.decode(errors="replace")
