"""Chat straight from the agent: the real Claude Agent SDK driving the stand-in ``claude``."""

from __future__ import annotations

import asyncio
import json
import os
import re
from typing import Any

import pytest
import websockets

from tests.support import eventually

from .conftest import LocalAgent


async def next_event(connection: websockets.ClientConnection) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(await asyncio.wait_for(connection.recv(), 20))
    return event


async def collect_turn(connection: websockets.ClientConnection) -> list[dict[str, Any]]:
    events = []
    while True:
        event = await next_event(connection)
        events.append(event)
        if event["type"] in ("done", "error"):
            return events


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone for our purposes
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


async def test_a_turn_streams_text_tool_use_result_then_done(agent: LocalAgent) -> None:
    (agent.root / "work").mkdir(exist_ok=True)
    url = f"{agent.ws_url}/chat?cwd=work"
    async with websockets.connect(url, additional_headers=agent.headers) as connection:
        await connection.send(json.dumps({"type": "prompt", "text": "please use a tool"}))
        events = await collect_turn(connection)
        kinds = [e["type"] for e in events]
        assert kinds == ["text", "tool_use", "tool_result", "text", "done"], events
        assert events[1]["name"] == "Bash"
        assert events[2]["tool_use_id"] == events[1]["id"]
        assert f"cwd={agent.root / 'work'}" in events[2]["content"]  # confined working directory
        assert events[-1]["is_error"] is False

        await connection.send(json.dumps({"type": "prompt", "text": "and again"}))  # same session
        second = await collect_turn(connection)
        assert second[-1]["session_id"] == events[-1]["session_id"]


async def test_one_turn_at_a_time(agent: LocalAgent) -> None:
    async with websockets.connect(f"{agent.ws_url}/chat", additional_headers=agent.headers) as c:
        await c.send(json.dumps({"type": "prompt", "text": "slow please"}))
        assert (await next_event(c))["type"] == "text"
        await c.send(json.dumps({"type": "prompt", "text": "another"}))
        refused = await next_event(c)
        assert refused == {"type": "error", "detail": "a turn is already running"}
        with agent.client() as client:
            assert client.get("/activity").json()["chat_turns"] == 1
        await c.send(json.dumps({"type": "interrupt"}))
        events = await collect_turn(c)
        assert events[-1]["type"] == "done"
        assert events[-1]["is_error"] is True


async def test_disconnecting_mid_turn_stops_claude(agent: LocalAgent) -> None:
    connection = await websockets.connect(f"{agent.ws_url}/chat", additional_headers=agent.headers)
    await connection.send(json.dumps({"type": "prompt", "text": "use a tool, slow"}))
    events = [await next_event(connection) for _ in range(3)]
    assert events[2]["type"] == "tool_result"
    match = re.search(r"pid=(\d+)", events[2]["content"])
    assert match is not None
    pid = int(match.group(1))
    assert alive(pid)
    await connection.close()
    await eventually(lambda: not alive(pid), timeout=15, what="the stand-in claude has exited")
    with agent.client() as client:
        await eventually(lambda: client.get("/activity").json()["chat_turns"] == 0)


async def test_a_working_directory_outside_the_data_folder_is_refused(agent: LocalAgent) -> None:
    url = f"{agent.ws_url}/chat?cwd=../.."
    async with websockets.connect(url, additional_headers=agent.headers) as connection:
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await connection.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert "outside the data folder" in closed.value.rcvd.reason
