"""The terminal straight from the agent: ttyd's protocol on a PTY attached to tmux."""

from __future__ import annotations

import re
import uuid

import pytest
import websockets

from tests.support import eventually
from tests.ttyd import Terminal

from .conftest import LocalAgent


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
