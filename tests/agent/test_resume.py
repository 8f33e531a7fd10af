"""A stop and a wake as the session's own scripts live them, on a local tmux server: the image's
``tmux-session.sh`` with its two panes, the stand-in ``claude`` as Claude Code, the agent's
``POST /checkpoint`` before the stop; the tmux server killed (the stop), the session made again
(the wake). The same on a real container: ``tests/gateway/workspace/test_resume.py``."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from claudecloud_agentapi import Checkpoint
from devstack.engine import ROOT
from tests.support import eventually

from .conftest import STAND_IN, LocalAgent, running_agent
from .test_chat import collect_turn

SESSION_SETUP = ROOT / "docker" / "instance" / "tmux-session.sh"
SHELL, CLAUDE = "=claude:.{right}", "=claude:.{left}"


@pytest.fixture(scope="module")
def workstation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAgent]:
    """An agent whose session is the image's (``tmux-session.sh``), with ``claude`` on PATH."""
    base = tmp_path_factory.mktemp("workstation")
    tools = base / "bin"
    tools.mkdir()
    (tools / "claude").symlink_to(STAND_IN)
    env = {
        "AGENT_TMUX_SETUP": str(SESSION_SETUP),
        "AGENT_PYTHON": sys.executable,  # the shell pane's agent.resume
        "PATH": f"{tools}:{os.environ['PATH']}",
    }
    with running_agent(base, signed_in=True, env=env) as found:
        yield found


def screen(agent: LocalAgent, pane: str) -> str:
    return agent.tmux("capture-pane", "-p", "-J", "-t", pane)


def wake(agent: LocalAgent) -> None:
    agent.run(str(SESSION_SETUP), "ensure")


def stop(agent: LocalAgent) -> None:
    agent.tmux("kill-server")


def pane_starts(agent: LocalAgent) -> list[list[str]]:
    """The argv of every interactive start of the stand-in (the Claude pane's)."""
    log = agent.root / ".claude" / "standin-argv.jsonl"
    runs = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [run["argv"] for run in runs if "stream-json" not in run["argv"]]


async def test_a_wake_after_a_stop_shows_where_the_user_left_off_once(
    workstation: LocalAgent,
) -> None:
    agent = workstation
    url = f"{agent.ws_url}/chat?cwd=."
    async with websockets.connect(url, additional_headers=agent.headers) as chat:
        await chat.send(json.dumps({"type": "prompt", "text": "remember the word apricot"}))
        await collect_turn(chat)
    app = agent.root / "app"
    app.mkdir()
    agent.run("git", "-C", str(app), "init", "-q", "-b", "main")
    (app / "todo.txt").write_text("half done\n")
    wake(agent)
    await eventually(lambda: pane_starts(agent) == [["--continue"]], what="claude --continue")
    agent.tmux("send-keys", "-t", SHELL, "echo marker-$((6*7))", "Enter")
    await eventually(lambda: "marker-42" in screen(agent, SHELL), what="the command's output")

    with agent.client() as client:
        answer = client.post("/checkpoint", json={"reason": "idle"})
    assert answer.status_code == 200, answer.text
    taken = Checkpoint.model_validate(answer.json())
    stop(agent)
    wake(agent)

    def first_screen() -> str | None:
        shown = screen(agent, SHELL)
        return shown if "Last prompt to Claude" in shown else None

    shown = await eventually(first_screen, what="the shell pane's first screen")
    saved_at = f"Saved {taken.taken_at:%Y-%m-%d %H:%M} UTC, then stopped (idle)"
    assert saved_at in shown
    assert shown.index(saved_at) < shown.index("marker-42") < shown.index("Where you left off")
    assert "app (no commits yet): 1 file on claudecloud/wip/" in shown
    assert 'Last prompt to Claude: "remember the word apricot"' in shown
    continuing = "you last said: remember the word apricot"
    await eventually(lambda: continuing in screen(agent, CLAUDE), what="Claude continuing")
    assert pane_starts(agent) == [["--continue"], ["--continue"]]

    stop(agent)  # a start with no stop before it: nothing to show again
    wake(agent)
    agent.tmux("send-keys", "-t", SHELL, "echo again-$((6*8))", "Enter")
    await eventually(lambda: "again-48" in screen(agent, SHELL), what="the shell")
    assert "Saved" not in screen(agent, SHELL)


async def test_the_checkpoint_is_on_the_volume_for_the_user_alone(workstation: LocalAgent) -> None:
    agent = workstation
    wake(agent)
    agent.tmux("send-keys", "-t", SHELL, "echo kept-$((6*9))", "Enter")
    await eventually(lambda: "kept-54" in screen(agent, SHELL), what="the command's output")

    with agent.client() as client:
        taken: dict[str, Any] = client.post("/checkpoint", json={"reason": "user"}).json()

    folder = agent.root / ".claudecloud" / "checkpoint"
    assert json.loads((folder / "checkpoint.json").read_text()) == taken
    assert "kept-54" in (folder / "scrollback-shell.txt").read_text()
    assert set(taken["scrollback"]) == {"claude", "shell"}
    assert taken["scrollback"]["shell"] == len(
        (folder / "scrollback-shell.txt").read_text().splitlines()
    )
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    for saved in folder.iterdir():
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600, saved
    assert taken["sessions"][0]["project"] == str(agent.root)
    assert taken["last_prompt"] == taken["sessions"][0]["last_prompt"]
    settings = json.loads((agent.root / ".claude" / "settings.json").read_text())
    assert settings["cleanupPeriodDays"] >= 3650  # Claude keeps the transcripts a wake resumes


def test_the_checkpoint_takes_the_agent_secret(workstation: LocalAgent) -> None:
    with workstation.client() as client:
        refused = client.post("/checkpoint", json={}, headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401
