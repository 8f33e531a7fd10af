"""The terminal straight from the agent: ttyd's protocol on a PTY attached to tmux."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets

from devstack import Child
from tests.support import eventually, free_port
from tests.ttyd import Layout, Terminal, drawn_at, first_drawn_at, shows_in_pane, stand_in_pid

from .conftest import STAND_IN, LocalAgent


async def open_terminal(agent: LocalAgent, columns: int = 120, rows: int = 40) -> Terminal:
    return await Terminal.open(
        f"{agent.ws_url}/terminal", columns=columns, rows=rows, headers=agent.headers
    )


async def shows_columns(terminal: Terminal, columns: int) -> None:
    """``tput cols`` says ``columns``; asked again while tmux passes the resize to the shell."""

    async def asked() -> bool:
        await terminal.send_keys("clear; echo cols=$(tput cols)\r")
        try:
            await terminal.wait_for(f"cols={columns}", timeout=1.0)
        except AssertionError:
            return False
        return True

    await eventually(asked, timeout=15, what=f"tput cols = {columns}")


async def test_echo_resize_and_reconnect(agent: LocalAgent) -> None:
    terminal = await open_terminal(agent)
    try:
        await terminal.send_keys("echo hel''lo\r")
        await terminal.wait_for(lambda s: re.search(r"^hello\s*$", s, re.M) is not None)
        assert terminal.title is not None
        assert "claude" in terminal.title

        await terminal.resize(100, 30)
        await shows_columns(terminal, 100)
        await terminal.resize(140, 30)
        await shows_columns(terminal, 140)

        marker = uuid.uuid4().hex[:12]
        await terminal.send_keys(f"echo {marker[:6]}''{marker[6:]}\r")
        await terminal.wait_for(lambda s: re.search(rf"^{marker}\s*$", s, re.M) is not None)
    finally:
        await terminal.close()

    again = await open_terminal(agent, columns=140, rows=30)
    try:
        await again.wait_for(marker)  # tmux kept the session: the earlier output is there
    finally:
        await again.close()


async def test_activity_counts_open_terminals(agent: LocalAgent) -> None:
    terminal = await open_terminal(agent)
    try:
        await terminal.wait_for(lambda s: s.strip() != "")
        with agent.client() as client:
            report = client.get("/activity").json()
        assert report["terminals"] == 1
        assert report["tmux_session"] is True
    finally:
        await terminal.close()
    with agent.client() as client:
        await eventually(lambda: client.get("/activity").json()["terminals"] == 0)


async def test_terminal_refuses_upgrade_without_the_secret(agent: LocalAgent) -> None:
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        await Terminal.open(f"{agent.ws_url}/terminal", headers={"Authorization": "Bearer nope"})
    assert refused.value.response.status_code == 403


# The image's session (docker/instance/tmux-session.sh): the stand-in claude on the left, 70% of
# the width, a shell on the right. The agent creates it when a terminal opens and it is missing.

SETUP = Path(__file__).parents[2] / "docker" / "instance" / "tmux-session.sh"


@pytest.fixture(scope="module")
async def laid_out(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalAgent]:
    """An agent that creates the image's session, with the stand-in as ``claude`` on ``PATH``."""
    base = tmp_path_factory.mktemp("laid-out")
    root, tmux_dir = base / "data", base / "tmux"
    root.mkdir()
    tmux_dir.mkdir()
    port, secret = free_port(), secrets.token_urlsafe(32)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AGENT_", "TMUX"))},
        **_session_env(root, tmux_dir),
        "AGENT_SECRET": secret,
        "AGENT_HOST": "127.0.0.1",
        "AGENT_PORT": str(port),
        "AGENT_DATA_DIR": str(root),
        "AGENT_TMUX_SETUP": str(SETUP),
    }
    found = LocalAgent(f"http://127.0.0.1:{port}", secret, root, tmux_dir)
    # Its own process group, killed with this test run: nothing is left behind.
    process = Child("agent", [sys.executable, "-m", "agent"], env, log=base / "agent.log", cwd=root)
    process.start()
    try:
        await eventually(lambda: _healthy(found, process), timeout=30, what="agent healthy")
        yield found
    finally:
        process.stop(timeout=10)
        found.tmux("kill-server")


def _session_env(root: Path, tmux_dir: Path) -> dict[str, str]:
    return {
        "TMUX_TMPDIR": str(tmux_dir),
        "HOME": str(root),
        "SHELL": "/bin/bash",
        "PATH": f"{STAND_IN.parent}:{os.environ['PATH']}",
    }


def _healthy(agent: LocalAgent, process: Child) -> bool:
    assert process.running(), f"the agent exited: {process.last_lines()}"
    try:
        with agent.client() as client:
            return client.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False


def fresh_session(agent: LocalAgent) -> None:
    """No tmux server: the next terminal makes the session as a new instance has it."""
    agent.tmux("kill-server")


def fresh_session_in_the_shell(agent: LocalAgent) -> None:
    """A new session (made as the supervisor makes it) whose shell pane has the focus, as when
    the person has moved there (keys sent at once would be a paste to tmux: no Ctrl-b o)."""
    fresh_session(agent)
    env = {**os.environ, **_session_env(agent.root, agent.tmux_dir)}
    subprocess.run([str(SETUP), "ensure"], env=env, cwd=agent.root, check=True)
    agent.tmux("select-pane", "-t", "claude:0.{right}")


async def test_first_screen_has_the_opening_size_and_the_layout(laid_out: LocalAgent) -> None:
    fresh_session_in_the_shell(laid_out)
    terminal = await open_terminal(laid_out, 120, 30)
    try:
        await terminal.send_keys("echo ok-$((6*7))\r")  # at once, no resize
        layout = await terminal.wait_layout(first_drawn_at(120, 30))
        assert layout.split == 84
        await terminal.wait_layout(shows_in_pane("right", "ok-42"))
    finally:
        await terminal.close()

    again = await open_terminal(laid_out, 100, 40)
    try:
        await again.send_keys("echo ok-$((6*8))\r")  # the shell pane kept the focus
        await again.wait_layout(first_drawn_at(100, 40))
        await again.wait_layout(shows_in_pane("right", "ok-48"))

        await again.resize(200, 50)
        await again.send_keys("clear; echo ok-$((6*9))\r")
        await again.wait_layout(drawn_at(200, 50))
        await again.wait_layout(shows_in_pane("right", "ok-54"))
    finally:
        await again.close()


@pytest.mark.parametrize(("columns", "rows"), [(80, 24), (81, 25), (133, 41), (300, 90)])
async def test_the_split_is_70_30_at_every_size(
    laid_out: LocalAgent, columns: int, rows: int
) -> None:
    terminal = await open_terminal(laid_out, 120, 30)
    try:
        await terminal.wait_layout(first_drawn_at(120, 30))
        await terminal.resize(columns, rows)
        await terminal.wait_layout(drawn_at(columns, rows))
    finally:
        await terminal.close()


async def test_the_split_holds_after_a_burst_of_resizes(laid_out: LocalAgent) -> None:
    terminal = await open_terminal(laid_out, 120, 30)
    try:
        for step in range(20):  # as a window dragged by its corner, without waiting
            await terminal.resize(80 + 7 * step, 24 + step)
        await terminal.resize(150, 45)
        await terminal.wait_layout(drawn_at(150, 45))
    finally:
        await terminal.close()


async def test_with_two_clients_the_one_typing_sets_the_size(laid_out: LocalAgent) -> None:
    """tmux's ``window-size latest``: the window takes the size of the client used last."""
    first = await open_terminal(laid_out, 120, 30)
    second = None
    try:
        await first.wait_layout(first_drawn_at(120, 30))
        second = await open_terminal(laid_out, 100, 40)
        await second.wait_layout(first_drawn_at(100, 40))  # attached last

        tag = uuid.uuid4().hex[:8]
        await first.send_keys(f"clear; echo {tag}''-first\r")
        await first.wait_layout(drawn_at(120, 30))
        await first.wait_layout(lambda layout: f"{tag}-first" in "".join(layout.lines))

        await second.send_keys(f"clear; echo {tag}''-second\r")
        await second.wait_layout(drawn_at(100, 40))
        await second.wait_layout(lambda layout: f"{tag}-second" in "".join(layout.lines))
    finally:
        await first.close()
        if second is not None:
            await second.close()


async def test_claude_code_comes_back_when_it_exits(laid_out: LocalAgent) -> None:
    fresh_session(laid_out)
    terminal = await open_terminal(laid_out, 100, 30)
    try:
        layout = await terminal.wait_layout(lambda layout: stand_in_pid(layout) is not None)
        killed = stand_in_pid(layout)
        assert killed is not None
        os.kill(killed, signal.SIGKILL)

        def came_back(layout: Layout) -> bool:
            left = "\n".join(layout.pane("left"))
            return "stopped by SIGKILL (exit code 137)" in left and stand_in_pid(layout) != killed

        layout = await terminal.wait_layout(came_back)
        assert "The right pane is always a shell: Ctrl-b o goes there." in layout.pane("left")

        # Leaving it (Ctrl-D: it exits 0), then Enter: it starts again at once.
        second = stand_in_pid(layout)
        await terminal.send_keys("\x04")
        await terminal.wait_layout(shows_in_pane("left", "Claude Code exited with code 0."))
        await terminal.send_keys("\r")
        layout = await terminal.wait_layout(lambda layout: stand_in_pid(layout) != second)
    finally:
        await terminal.close()


async def test_the_shell_pane_is_always_a_shell(laid_out: LocalAgent) -> None:
    fresh_session_in_the_shell(laid_out)
    terminal = await open_terminal(laid_out, 100, 30)
    try:
        await terminal.send_keys("exit\r")
        await terminal.wait_layout(shows_in_pane("right", "(shell restarted)"))
        await terminal.send_keys("echo ok-$((6*7))\r")
        layout = await terminal.wait_layout(shows_in_pane("right", "ok-42"))
        assert layout.splits(0.7)  # still two panes
    finally:
        await terminal.close()
