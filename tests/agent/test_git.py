"""Git on the workstation, on the agent as a local process: the SSH key it makes at start, its
credential helper's socket (local only), and the whole way a token travels when git asks for
one: git → the helper → the agent's socket → the gateway (in this process, against a local
GitHub) → back, with a clone, a commit and a push to the suite's git server, which saw them
under the user's token; once the user disconnects, git says how to connect."""

from __future__ import annotations

import asyncio
import contextlib
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from tests.fakes.git_http import GitServer
from tests.fakes.github import FakeGitHub
from tests.gateway.conftest import running
from tests.gateway.git.conftest import agent_secret, git_settings, person
from tests.gateway.git.test_tokens import connect
from tests.support import eventually, free_port

from .conftest import LocalAgent, running_agent

HELPER_SOCKET = "agent.sock"


async def test_the_ssh_key_is_made_at_start(agent: LocalAgent) -> None:
    key = agent.root / ".ssh" / "id_ed25519"
    await eventually(key.exists, what="the SSH key made at start")
    with agent.client() as client:
        first = client.get("/ssh-key")
        again = client.get("/ssh-key")
    assert first.status_code == 200, first.text
    shown = first.json()
    assert shown == again.json()  # made once
    assert shown["public_key"].startswith("ssh-ed25519 ")
    assert shown["public_key"] == (key.parent / "id_ed25519.pub").read_text().strip()
    assert shown["fingerprint"].startswith("SHA256:")
    assert shown["path"] == ".ssh/id_ed25519"
    assert "PRIVATE" not in first.text
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700


async def test_the_helpers_way_in_is_not_open_over_tcp(agent: LocalAgent) -> None:
    with agent.client() as client:  # even with the agent's secret
        refused = client.post("/git/credential", json={"protocol": "https", "host": "github.com"})
    assert refused.status_code == 401
    socket = agent.root.parent / "run" / HELPER_SOCKET
    assert stat.S_IMODE(socket.stat().st_mode) == 0o600


def test_the_helper_says_so_when_the_platform_is_not_known(agent: LocalAgent) -> None:
    done = helper(agent.root.parent / "run", "get", "protocol=https\nhost=github.com\n\n")
    assert done.returncode == 0
    assert done.stdout == ""  # git goes on to ask elsewhere
    assert "no token from the platform" in done.stderr
    # store and erase: nothing to do
    assert helper(agent.root.parent / "run", "erase", "protocol=https\n\n").stdout == ""


def helper(run: Path, action: str, attributes: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", "-m", "agent.gitcredential", action],
        input=attributes,
        env={"CLAUDECLOUD_AGENT_SOCKET": str(run / HELPER_SOCKET), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The (started) gateway app on a port of this event loop, as the workstation reaches it."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, timeout=30, what="the gateway listening")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[tuple[FakeGitHub, GitServer]]:
    github = FakeGitHub(callback_url="http://testserver/me/git/github/callback", device_interval=0)
    github.add_user("octocat")
    (tmp_path / "served").mkdir()
    server = GitServer(github, tmp_path / "served")
    with server.serve(), github.serve():
        github.git_base = f"http://127.0.0.1:{server.port}"
        server.create("octocat", "secret-plans")
        yield github, server


class Git:
    """The host's git, configured as the image configures it: the system file includes what
    the agent writes, nothing else of this machine's."""

    def __init__(self, home: Path, run: Path) -> None:
        home.mkdir()
        system = home / "gitconfig"
        system.write_text(f"[include]\n\tpath = {run / 'gitconfig'}\n")
        self.home = home
        self.env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "GIT_CONFIG_SYSTEM": str(system),
            "GIT_CONFIG_GLOBAL": str(home / "no-global"),
            "GIT_TERMINAL_PROMPT": "0",
            "CLAUDECLOUD_AGENT_SOCKET": str(run / HELPER_SOCKET),
        }

    async def __call__(
        self, *args: str, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run,
            ["git", *args],
            cwd=cwd or self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


async def test_git_gets_the_users_token_through_the_agent(
    tmp_path: Path, git_server: tuple[FakeGitHub, GitServer]
) -> None:
    github, server = git_server
    host = f"http://127.0.0.1:{server.port}"
    async with running(tmp_path / "gateway", **git_settings(github, git_host=host)) as gateway:
        alice = await person(gateway, "alice-git@example.com")
        await connect(alice, github)
        instance_id = await gateway.instance(alice.user_id)
        script = tmp_path / "git-credential-claudecloud"
        script.write_text(f'#!/bin/sh\nexec {sys.executable} -I -m agent.gitcredential "$@"\n')
        script.chmod(0o755)
        async with served(gateway.app) as gateway_url:
            env = {
                "AGENT_GATEWAY_URL": gateway_url,
                "AGENT_INSTANCE_ID": str(instance_id),
                "AGENT_GIT_HELPER": str(script),
            }
            base = tmp_path / "workstation"
            base.mkdir()
            secret = await agent_secret(gateway, instance_id)
            with running_agent(base, signed_in=False, env=env, secret=secret) as agent:
                await _clone_commit_push(agent, Git(tmp_path / "home", base / "run"), host, server)
                # Disconnected: git says how to connect, and asks no one else.
                assert (await alice.call("DELETE", "/me/git/github")).status_code == 204
                git = Git(tmp_path / "home2", base / "run")
                refused = await git("clone", f"{host}/octocat/secret-plans.git", "again")
                assert refused.returncode != 0
                assert "connect GitHub: open http://testserver/dashboard/#projects" in (
                    refused.stderr
                )
            log = (base / "agent.log").read_text()
        assert not any(token in log for token in github.every_token())


async def _clone_commit_push(agent: LocalAgent, git: Git, host: str, server: GitServer) -> None:
    config = agent.root.parent / "run" / "gitconfig"

    def learned() -> bool:
        return config.exists() and f'[credential "{host}"]' in config.read_text()

    await eventually(learned, timeout=30, what="the agent writing the provider's host for git")
    cloned = await git("clone", f"{host}/octocat/secret-plans.git", "plans")
    assert cloned.returncode == 0, cloned.stderr
    work = git.home / "plans"
    (work / "plan.md").write_text("world domination\n")
    await git("add", "plan.md", cwd=work)
    committed = await git("-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "-qm",
                          "the plan", cwd=work)  # fmt: skip
    assert committed.returncode == 0, committed.stderr
    pushed = await git("push", "origin", "main", cwd=work)
    assert pushed.returncode == 0, pushed.stderr

    assert server.log("octocat/secret-plans")[0] == "the plan"
    [push] = server.pushes("octocat/secret-plans")
    assert push.login == "octocat"
    assert push.token is not None
    assert push.token not in (work / ".git" / "config").read_text()  # nothing kept in the clone
