"""Chat straight from the agent: the real Claude Agent SDK driving the stand-in ``claude``."""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
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


async def turn_in(agent: LocalAgent, cwd: str, *messages: dict[str, Any]) -> list[dict[str, Any]]:
    """One connection's messages, then its events up to the end of its last turn."""
    url = f"{agent.ws_url}/chat?cwd={cwd}"
    async with websockets.connect(url, additional_headers=agent.headers) as connection:
        for message in messages:
            await connection.send(json.dumps(message))
        return await collect_turn(connection)


def reply(events: list[dict[str, Any]]) -> str:
    return " ".join(e["text"] for e in events if e["type"] == "text")


async def test_a_chat_continues_the_folders_last_conversation_until_asked_for_a_new_one(
    agent: LocalAgent,
) -> None:
    cwd = f"resume-{uuid.uuid4().hex[:6]}"
    (agent.root / cwd).mkdir()
    first = await turn_in(agent, cwd, {"type": "prompt", "text": "remember the word apricot"})
    session = first[-1]["session_id"]

    again = await turn_in(agent, cwd, {"type": "prompt", "text": "what did I say?"})

    assert "I remember you said before: remember the word apricot" in reply(again)
    assert again[-1]["session_id"] == session
    url = f"{agent.ws_url}/chat?cwd={cwd}"
    async with websockets.connect(url, additional_headers=agent.headers) as connection:
        await connection.send(json.dumps({"type": "new"}))
        assert await next_event(connection) == {"type": "new_conversation"}
        await connection.send(json.dumps({"type": "prompt", "text": "hello"}))
        fresh = await collect_turn(connection)
    assert "I remember" not in reply(fresh)
    assert fresh[-1]["session_id"] != session


async def test_the_history_is_the_conversation_the_chat_continues(agent: LocalAgent) -> None:
    cwd = f"history-{uuid.uuid4().hex[:6]}"
    (agent.root / cwd).mkdir()
    with agent.client() as client:
        empty = client.get("/chat/history", params={"cwd": cwd}).json()
        assert (empty["session_id"], empty["messages"]) == (None, [])
        done = await turn_in(agent, cwd, {"type": "prompt", "text": "please use a tool"})

        history = client.get("/chat/history", params={"cwd": cwd}).json()

        outside = client.get("/chat/history", params={"cwd": "../.."})
    assert history["session_id"] == done[-1]["session_id"]
    assert history["cwd"] == cwd
    shown = [(m["role"], m["text"]) for m in history["messages"]]
    assert shown == [
        ("user", "please use a tool"),
        ("assistant", "Stand-in Claude here. You said: please use a tool"),
        ("tool", "Bash: pwd"),
        ("assistant", "Done."),
    ]
    assert history["messages"][2]["tool"] == "Bash"
    assert outside.status_code == 403


async def test_a_conversation_that_will_not_load_is_left_for_a_new_one(agent: LocalAgent) -> None:
    cwd = f"broken-{uuid.uuid4().hex[:6]}"
    (agent.root / cwd).mkdir()
    # A transcript with a prompt on record but no message Claude could load.
    folder = (
        agent.root / ".claude" / "projects" / re.sub(r"[^a-zA-Z0-9]", "-", str(agent.root / cwd))
    )
    folder.mkdir(parents=True)
    (folder / f"{uuid.uuid4()}.jsonl").write_text('{"type": "last-prompt", "lastPrompt": "lost"}\n')

    url = f"{agent.ws_url}/chat?cwd={cwd}"
    async with websockets.connect(url, additional_headers=agent.headers) as connection:
        await connection.send(json.dumps({"type": "prompt", "text": "hello"}))
        failed = await collect_turn(connection)
        await connection.send(json.dumps({"type": "prompt", "text": "hello again"}))
        fresh = await collect_turn(connection)

    assert failed[-1]["type"] == "error"
    assert "could not be continued" in failed[-1]["detail"]
    assert fresh[-1]["type"] == "done"
    assert "You said: hello again" in reply(fresh)
    assert "I remember" not in reply(fresh)


async def test_a_turns_cost_is_claudes_spend_in_the_activity_report(agent: LocalAgent) -> None:
    def chat_spend() -> dict[str, Any]:
        with agent.client() as client:
            days = client.get("/activity").json()["claude_spend"]
        return next((d for d in days if d["source"] == "chat"), {"cost_usd": 0.0, "turns": 0})

    before = chat_spend()
    (agent.root / "spend").mkdir(exist_ok=True)
    url = f"{agent.ws_url}/chat?cwd=spend"
    async with websockets.connect(url, additional_headers=agent.headers) as connection:
        await connection.send(json.dumps({"type": "new"}))
        await connection.send(json.dumps({"type": "prompt", "text": "what does it cost"}))
        done = (await collect_turn(connection))[-1]
    assert done["total_cost_usd"] > 0
    after = chat_spend()
    assert after["cost_usd"] == pytest.approx(before["cost_usd"] + done["total_cost_usd"])
    assert after["turns"] == before["turns"] + 1
    assert after["input_tokens"] > before.get("input_tokens", 0)
    # The SDK's Claude wrote this turn to its transcript too: not counted a second time as the
    # terminal's.
    with agent.client() as client:
        days = client.get("/activity").json()["claude_spend"]
    assert all(d["source"] == "chat" for d in days), days
