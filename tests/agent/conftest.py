"""The agent as a local process on a temporary data folder, with the stand-in ``claude`` and a
tmux server of its own (``TMUX_TMPDIR``), so these tests are quick and need no container."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from devstack import Child
from devstack.stack import wait_for_health
from tests.support import free_port

STAND_IN = Path(__file__).parents[1] / "fakes" / "claude"


@dataclass
class LocalAgent:
    url: str
    secret: str
    root: Path
    tmux_dir: Path
    environ: dict[str, str] = field(default_factory=dict)
    """The agent's own environment: what tmux started from here has too."""

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=30)

    def tmux(self, *args: str) -> str:
        env = {**(self.environ or os.environ), "TMUX_TMPDIR": str(self.tmux_dir)}
        done = subprocess.run(["tmux", *args], env=env, capture_output=True, text=True, check=False)
        return done.stdout

    def run(self, *argv: str) -> str:
        """A program run as the agent would run it (its environment, in the data folder)."""
        done = subprocess.run(
            argv, env=self.environ, cwd=self.root, capture_output=True, text=True, check=True
        )
        return done.stdout


@pytest.fixture(scope="session")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAgent]:
    """An agent whose Claude is signed in (Claude's own sign-in file in its home)."""
    with running_agent(tmp_path_factory.mktemp("agent"), signed_in=True) as found:
        yield found


@contextmanager
def running_agent(
    base: Path, *, signed_in: bool, env: dict[str, str] | None = None, secret: str | None = None
) -> Iterator[LocalAgent]:
    """An agent on ``base/data`` with its own tmux server; ``env`` adds to its environment,
    ``secret`` is its secret (else a random one)."""
    root, tmux_dir = base / "data", base / "tmux"
    root.mkdir()
    tmux_dir.mkdir()
    if signed_in:
        (root / ".claude").mkdir()
        (root / ".claude" / ".credentials.json").write_text('{"claudeAiOauth": {}}')
    port = free_port()
    secret = secret or secrets.token_urlsafe(32)
    kept = base / "agent-secret"
    # A secret in the file wins (an older machine's); a credential there is one the caller knows
    expected = kept.read_text() if kept.exists() and ":" not in kept.read_text() else secret
    environ = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AGENT_", "TMUX", "ANTHROPIC_", "CLAUDE_"))
        },
        "AGENT_SECRET": secret,
        "AGENT_SECRET_FILE": str(base / "agent-secret"),
        "AGENT_HOST": "127.0.0.1",
        "AGENT_PORT": str(port),
        "AGENT_DATA_DIR": str(root),
        "AGENT_CLAUDE_PATH": str(STAND_IN),
        "AGENT_CLONE_TIMEOUT_SECONDS": "20",
        "TMUX_TMPDIR": str(tmux_dir),
        "HOME": str(root),
        "SHELL": "/bin/bash",
        "AGENT_RUNTIME_DIR": str(base / "run"),  # the credential helper's socket (agent.git)
        **(env or {}),
    }
    process = Child(
        "agent", [sys.executable, "-m", "agent"], environ, log=base / "agent.log", cwd=root
    )
    found = LocalAgent(f"http://127.0.0.1:{port}", expected, root, tmux_dir, environ)
    process.start()
    try:
        wait_for_health(f"{found.url}/healthz", timeout=30, child=process, headers=found.headers)
        yield found
    finally:
        process.stop(timeout=10)
        found.tmux("kill-server")
