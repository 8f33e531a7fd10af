"""Git on real workstations: the platform's processes with the docker provider (the stand-in
``claude``), a local GitHub (:mod:`tests.fakes.github`) the gateway talks to, and its git server
(:mod:`tests.fakes.git_http`) that the containers reach as ``host.docker.internal``, as they reach
the gateway's workstation listener (``make run``'s wiring: ``WORKSTATION_GATEWAY_URL``).

Two users with running workstations: A connects GitHub, B never does.
"""

from __future__ import annotations

import asyncio
import json
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
import websockets

from devstack import Stack, docker_isolation, local_config, remove_deployment
from devstack.engine import STANDIN_IMAGE
from tests.fakes.git_http import GitServer
from tests.fakes.github import FakeGitHub
from tests.gateway.git.conftest import enter_device_code, git_settings
from tests.gateway.workspace.conftest import User, _user, build_standin_image, exec_in
from tests.support import eventually, require_docker_engine
from tests.ttyd import Terminal

ORIGIN = "http://dashboard.test"
HOST = "host.docker.internal"
CLI = str(Path(sys.executable).parent / "claude-cloud")

pytestmark = pytest.mark.timeout(600)


@dataclass
class Platform:
    stack: Stack
    engine: docker.DockerClient
    base_url: str
    github: FakeGitHub
    git: GitServer
    a: User
    b: User
    answers: list[str] = field(default_factory=list)
    """Every body the gateway answered in these tests (leak checks)."""

    @property
    def git_host(self) -> str:
        return f"http://{HOST}:{self.git.port}"

    def repo_url(self, full_name: str) -> str:
        return f"{self.git_host}/{full_name}.git"

    @property
    def workstations_url(self) -> str:
        """The gateway's listener for workstations, as this machine reaches it."""
        return self.stack.spec("gateway").listener_url("AGENT_PORT").removesuffix("/agent/")

    async def call(self, user: User, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(
            base_url=self.base_url, headers=user.bearer, timeout=120
        ) as api:
            response = await api.request(method, path, **kwargs)
        self.answers.append(response.text)
        return response

    async def terminal(self, user: User) -> Terminal:
        ticket = (await self.call(user, "POST", f"/instances/{user.instance_id}/tickets")).json()
        ws = self.base_url.replace("http://", "ws://", 1)
        url = f"{ws}/instances/{user.instance_id}/terminal?ticket={ticket['ticket']}"
        return await Terminal.open(url, origin=ORIGIN, columns=220, rows=50)

    async def chat_turn(self, user: User, prompt: str) -> list[dict[str, Any]]:
        """One chat turn's events, to ``done`` or ``error``."""
        ticket = (await self.call(user, "POST", f"/instances/{user.instance_id}/tickets")).json()
        ws = self.base_url.replace("http://", "ws://", 1)
        url = f"{ws}/instances/{user.instance_id}/chat?ticket={ticket['ticket']}"
        events: list[dict[str, Any]] = []
        async with websockets.connect(url, origin=ORIGIN) as chat:  # type: ignore[arg-type]
            await chat.send(json.dumps({"type": "prompt", "text": prompt}))
            while not events or events[-1]["type"] not in ("done", "error"):
                events.append(json.loads(await asyncio.wait_for(chat.recv(), 120)))
        self.answers.extend(json.dumps(e) for e in events)
        return events

    async def cli(self, user: User, *args: str) -> asyncio.subprocess.Process:
        """``claude-cloud`` signed in as ``user`` (its token kept as ``login`` keeps it)."""
        home = Path(self.stack.config.data_dir) / "cli" / user.instance_id
        (home / ".claude-cloud").mkdir(parents=True, exist_ok=True, mode=0o700)
        token = home / ".claude-cloud" / "token"
        token.write_text(user.token + "\n")
        token.chmod(stat.S_IRUSR | stat.S_IWUSR)
        env = {"HOME": str(home), "CLAUDE_CLOUD_API": self.base_url, "PATH": "/usr/bin:/bin"}
        return await asyncio.create_subprocess_exec(
            CLI, *args, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

    async def connect_by_api(self, user: User, login: str = "octocat") -> None:
        """Connect ``user`` through the device flow (as the CLI would, without it)."""
        started = (await self.call(user, "POST", "/me/git/github/device")).json()
        await enter_device_code(self.github, login, started["user_code"], "authorize")
        self.github.let_time_pass(self.github.device_interval)
        polled = await self.call(
            user, "POST", "/me/git/github/device/poll", json={"device_id": started["device_id"]}
        )
        assert polled.json()["status"] == "connected", polled.text


def shell(user: User, command: str) -> tuple[int, str]:
    """A command in the user's workstation, as its user, from the home folder."""
    return exec_in(user.container, f"cd /claude-data && {command}")


@pytest.fixture(scope="module")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeGitHub, GitServer]]:
    github = FakeGitHub(device_interval=1)
    github.add_user("octocat", "The Octocat")
    root = tmp_path_factory.mktemp("git-served")
    server = GitServer(github, root)
    with server.serve(), github.serve():
        github.git_base = f"http://{HOST}:{server.port}"
        server.create("octocat", "plans")
        yield github, server
    assert not github.violations, github.violations


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    require_docker_engine()
    build_standin_image()
    client = docker.from_env(version="1.41", timeout=120)
    yield client
    client.close()


@pytest.fixture(scope="module")
async def platform(
    engine: docker.DockerClient,
    fakes: tuple[FakeGitHub, GitServer],
    tmp_path_factory: pytest.TempPathFactory,
    request: Any,
) -> AsyncIterator[Platform]:
    github, server = fakes
    deployment, network, isolation = docker_isolation("git", STANDIN_IMAGE)
    tmp = tmp_path_factory.mktemp("git-stack")
    git = git_settings(github, git_host=f"http://{HOST}:{server.port}")
    env = {
        **isolation,
        **{f"GATEWAY_{name.upper()}": str(value) for name, value in git.items()},
        "PROVISIONER_DOCKER_MEMORY": "1g",
        "PROVISIONER_DOCKER_STOP_TIMEOUT_SECONDS": "3",
        "PROVISIONER_BUS_ACK_WAIT_SECONDS": "90",
        "OUTBOX_POLL_SECONDS": "0.2",
        "GATEWAY_ADMISSION_TIMEOUT_SECONDS": "2",
        "GATEWAY_DASHBOARD_ORIGINS": ORIGIN,
        "GATEWAY_RATE_LIMIT_API": "100000/minute",
        "LOG_LEVEL": "INFO",
    }
    config = local_config(tmp, provider="docker", env=env)
    github.callback_url = f"http://localhost:{config.port}/me/git/github/callback"
    stack = Stack(config)
    await asyncio.to_thread(stack.start)
    base_url = f"http://127.0.0.1:{config.port}"
    admin = httpx.AsyncClient(
        base_url=base_url, headers={"X-API-Key": config.admin_api_key}, timeout=60
    )
    try:
        log = tmp / "logs" / "gateway.log"
        a = await _user(base_url, admin, engine, log, "git-a")
        b = await _user(base_url, admin, engine, log, "git-b")
        # Each agent has asked the gateway which hosts git asks it for.
        await eventually(lambda: git_setup_learned(a) and git_setup_learned(b), timeout=60)
        yield Platform(stack, engine, base_url, github, server, a, b)
    finally:
        await admin.aclose()
        stack.stop_all()
        remove_deployment(engine, deployment, network)
        if request.session.testsfailed:
            for path in sorted((tmp / "logs").glob("*.log")):
                print(f"----- {path} -----\n{path.read_text()[-6000:]}")


def git_setup_learned(user: User) -> bool:
    return exec_in(user.container, "test -s /opt/claudecloud/run/gitconfig")[0] == 0


def environ_of(user: User) -> str:
    """Every environment variable of every process in the workstation."""
    _code, output = exec_in(user.container, "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'")
    return output
