"""Where you left off, across a real stop: a user's container checkpointed by its agent, stopped
and started again by the platform (a pause that does not keep memory, then a wake), and what the
user finds through the gateway: the shell pane's first screen, Claude's pane continuing, the chat
continuing its conversation and showing it, the WIP branch of their uncommitted work."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import httpx
import pytest
import websockets

from tests.support import agent_secret_of, eventually
from tests.ttyd import Layout

from .conftest import ORIGIN, SHELL_PANE, Proxied, User, exec_in


@pytest.fixture(scope="module")
async def person(proxied: Proxied) -> User:
    """A user of their own: these tests stop and start the instance."""
    return await proxied.new_user("resume")


async def chat_turn(proxied: Proxied, user: User, prompt: str) -> list[dict[str, Any]]:
    ticket = await proxied.ticket(user)
    url = f"{proxied.ws_base}/instances/{user.instance_id}/chat?cwd=.&ticket={ticket}"
    async with websockets.connect(url, origin=ORIGIN) as chat:  # type: ignore[arg-type]
        await chat.send(json.dumps({"type": "prompt", "text": prompt}))
        events: list[dict[str, Any]] = []
        while not events or events[-1]["type"] not in ("done", "error"):
            events.append(json.loads(await asyncio.wait_for(chat.recv(), 60)))
    return events


async def status_becomes(proxied: Proxied, user: User, status: str) -> None:
    async def reached() -> bool:
        view = (await proxied.admin.get(f"/instances/{user.instance_id}")).json()
        return bool(view["status"] == status)

    await eventually(reached, timeout=90, what=f"the instance {status}")


def claude_pane_starts(user: User) -> list[list[str]]:
    """The argv of every start of the stand-in in the Claude pane (not the chat's)."""
    code, log = exec_in(user.container, "cat ~/.claude/standin-argv.jsonl")
    assert code == 0, log
    runs = [json.loads(line) for line in log.splitlines()]
    return [run["argv"] for run in runs if "stream-json" not in run["argv"]]


async def test_after_a_stop_the_user_finds_their_screen_their_work_and_their_conversation(
    proxied: Proxied, person: User
) -> None:
    said = await chat_turn(proxied, person, "remember the word apricot")
    assert said[-1]["type"] == "done", said
    code, output = exec_in(
        person.container,
        "git init -q -b main ~/app && echo 'half done' > ~/app/todo.txt"
        f" && tmux send-keys -t {SHELL_PANE} 'echo marker-$((6*7))' Enter",
    )
    assert code == 0, output

    async def in_shell() -> bool:
        return "marker-42" in exec_in(person.container, f"tmux capture-pane -p -t {SHELL_PANE}")[1]

    await eventually(in_shell, what="the marker in the shell pane")
    secret = agent_secret_of(proxied.stack, person.instance_id)  # as the provisioner asks it
    async with httpx.AsyncClient(timeout=60) as http:
        answer = await http.post(
            f"http://{person.host}/checkpoint",
            json={"reason": "user"},
            headers={"Authorization": f"Bearer {secret}"},
        )
    assert answer.status_code == 200, answer.text
    taken_at = datetime.fromisoformat(answer.json()["taken_at"])
    response = await proxied.admin.post(
        f"/instances/{person.instance_id}/pause", json={"keep_memory": False}
    )
    assert response.status_code == 202, response.text
    await status_becomes(proxied, person, "paused")
    person.container.reload()
    assert person.container.status == "exited"  # stopped: every process gone, the volume kept
    async with proxied.api(person) as api:
        assert (await api.post(f"/instances/{person.instance_id}/wake")).status_code == 202
    await status_becomes(proxied, person, "running")

    terminal = await proxied.terminal(person, columns=240, rows=50)
    try:

        def first_screen(layout: Layout) -> bool:
            return "Last prompt to Claude" in "\n".join(layout.pane("right"))

        shell = "\n".join((await terminal.wait_layout(first_screen, timeout=60)).pane("right"))
    finally:
        await terminal.close()
    saved_at = f"Saved {taken_at:%Y-%m-%d %H:%M} UTC, then stopped (you paused it)"
    assert saved_at in shell
    assert shell.index(saved_at) < shell.index("marker-42") < shell.index("Where you left off")
    assert "app (no commits yet): 1 file on claudecloud/wip/" in shell
    assert 'Last prompt to Claude: "remember the word apricot"' in shell
    assert claude_pane_starts(person)[-1] == ["--continue"]

    again = await chat_turn(proxied, person, "what did I say?")
    reply = " ".join(e["text"] for e in again if e["type"] == "text")
    assert "I remember you said before: remember the word apricot" in reply
    assert again[-1]["session_id"] == said[-1]["session_id"]
    code, refs = exec_in(person.container, "git -C ~/app for-each-ref refs/heads/claudecloud/wip")
    assert (code, len(refs.splitlines())) == (0, 1)


async def test_the_chat_history_is_the_owners_alone(proxied: Proxied, person: User) -> None:
    await chat_turn(proxied, person, "a prompt on record")
    async with proxied.api(person) as api:
        history = await api.get(f"/instances/{person.instance_id}/chat/history")
    async with proxied.api(proxied.a) as api:
        theirs = await api.get(f"/instances/{person.instance_id}/chat/history")
    assert history.status_code == 200, history.text
    prompts = [m["text"] for m in history.json()["messages"] if m["role"] == "user"]
    assert prompts[-1] == "a prompt on record"
    assert theirs.status_code == 404
