"""The terminal and the chat of a user's instance, through the gateway, on a real container."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import websockets

from tests.support import eventually
from tests.ttyd import Terminal

from .conftest import ORIGIN, Proxied, exec_in


async def columns_become(terminal: Terminal, columns: int) -> int:
    """Resize, then ask until tmux's window and ``tput cols`` in the (only) pane say ``columns``
    (the resize reaches the shell a moment after the keys may have)."""
    await terminal.resize(columns, 30)
    seen: dict[str, int] = {}

    async def asked() -> bool:
        tag = uuid.uuid4().hex[:6]
        await terminal.send_keys(
            f"clear; echo {tag}=$(tput cols):$(tmux display -p '#{{window_width}}')\r"
        )
        try:
            screen = await terminal.wait_for(
                lambda s: re.search(rf"^{tag}=\d+:\d+", s, re.M) is not None, timeout=1.5
            )
        except AssertionError:
            return False
        found = re.search(rf"^{tag}=(\d+):(\d+)", screen, re.M)
        assert found is not None
        seen["tput"], seen["window"] = int(found.group(1)), int(found.group(2))
        return seen["window"] == columns == seen["tput"]

    await eventually(asked, timeout=20, what=f"a window {columns} columns wide")
    return seen["tput"]


async def test_terminal_echo_resize_and_reconnect(proxied: Proxied) -> None:
    terminal = await proxied.terminal(proxied.a)
    try:
        await terminal.send_keys("echo hel''lo\r")  # in the shell pane, on the right
        await terminal.wait_for(lambda s: re.search(r"│hello\s", s) is not None, timeout=30)

        # The session is split (Claude pane and shell pane, and a resize goes to the shell pane);
        # left alone, this pane is the whole window.
        await terminal.send_keys("tmux kill-pane -a\r")
        assert await columns_become(terminal, 100) == 100
        assert await columns_become(terminal, 180) == 180

        marker = uuid.uuid4().hex[:12]
        await terminal.send_keys(f"echo {marker[:6]}''{marker[6:]}\r")
        await terminal.wait_for(lambda s: re.search(rf"^{marker}", s, re.M) is not None)
    finally:
        await terminal.close()

    again = await proxied.terminal(proxied.a, columns=180, rows=30)
    try:
        await again.wait_for(marker, timeout=20)  # tmux kept the session as it was
    finally:
        await again.close()


async def recv_event(connection: websockets.ClientConnection) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(await asyncio.wait_for(connection.recv(), 30))
    return event


async def open_chat(proxied: Proxied, cwd: str = ".") -> websockets.ClientConnection:
    ticket = await proxied.ticket(proxied.a)
    url = f"{proxied.ws_base}/instances/{proxied.a.instance_id}/chat?cwd={cwd}&ticket={ticket}"
    return await websockets.connect(url, origin=ORIGIN)  # type: ignore[arg-type]


async def test_chat_turn_streams_text_tool_use_result_then_done(proxied: Proxied) -> None:
    exec_in(proxied.a.container, "mkdir -p /claude-data/work")
    async with await open_chat(proxied, cwd="work") as chat:
        await chat.send(json.dumps({"type": "prompt", "text": "run a tool for me"}))
        events: list[dict[str, Any]] = []
        while not events or events[-1]["type"] not in ("done", "error"):
            events.append(await recv_event(chat))
    assert [e["type"] for e in events] == ["text", "tool_use", "tool_result", "text", "done"]
    assert events[1]["name"] == "Bash"
    assert events[2]["tool_use_id"] == events[1]["id"]
    assert "cwd=/claude-data/work" in events[2]["content"]
    assert events[-1]["is_error"] is False


async def test_leaving_mid_turn_stops_the_turn(proxied: Proxied) -> None:
    chat = await open_chat(proxied)
    await chat.send(json.dumps({"type": "prompt", "text": "tool, and be slow"}))
    events = [await recv_event(chat) for _ in range(3)]
    assert events[2]["type"] == "tool_result"
    found = re.search(r"pid=(\d+)", events[2]["content"])
    assert found is not None
    pid = found.group(1)
    assert exec_in(proxied.a.container, f"test -d /proc/{pid}")[0] == 0  # the turn is running
    await chat.close()

    def gone() -> bool:
        return exec_in(proxied.a.container, f"test -d /proc/{pid}")[0] != 0

    await eventually(gone, timeout=20, what="the stand-in claude stopped")
