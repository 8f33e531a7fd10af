"""Signing Claude in, on the agent: the credential the gateway pushes, the status it reports, and
chat turns with and without it (the stand-in ``claude`` is signed out as the real one is)."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.support import eventually

from .conftest import LocalAgent, running_agent
from .test_chat import alive, collect_turn

KEY = "sk-ant-api03-agentTEST-" + "q7Zr" * 8 + "-W9xY"


@pytest.fixture(scope="module")
def signed_out(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAgent]:
    """An agent whose home holds no sign-in of any kind."""
    with running_agent(tmp_path_factory.mktemp("signed-out"), signed_in=False) as found:
        yield found


def status(agent: LocalAgent) -> dict[str, object]:
    with agent.client() as client:
        response = client.get("/claude")
    assert response.status_code == 200, response.text
    assert KEY not in response.text
    found: dict[str, object] = response.json()
    return found


def push(agent: LocalAgent, revision: int, value: str = KEY) -> httpx.Response:
    body = {"kind": "api_key", "value": value, "revision": revision}
    with agent.client() as client:
        return client.put("/credentials", json=body)


def clear(agent: LocalAgent, revision: int) -> httpx.Response:
    with agent.client() as client:
        return client.delete("/credentials", params={"revision": revision})


def credential_file(agent: LocalAgent) -> Path:
    return agent.root / ".config" / "claudecloud" / "claude-credential"


def environ(pid: int) -> bytes:
    return Path(f"/proc/{pid}/environ").read_bytes()


async def turn(connection: websockets.ClientConnection, text: str) -> list[dict[str, object]]:
    await connection.send(json.dumps({"type": "prompt", "text": text}))
    return await collect_turn(connection)


async def test_a_stored_key_signs_chat_in_without_a_restart_and_clearing_signs_it_out(
    signed_out: LocalAgent,
) -> None:
    assert status(signed_out)["method"] == "none"
    url = f"{signed_out.ws_url}/chat"
    async with websockets.connect(url, additional_headers=signed_out.headers) as chat:
        refused = await turn(chat, "hello")
        assert refused[-1]["type"] == "error"
        assert refused[-1]["error"] == "claude_not_signed_in"
        assert "/login" in str(refused[-1]["detail"])
        assert "claude-cloud claude-key set" in str(refused[-1]["detail"])
        assert all("Not logged in" not in str(event) for event in refused)  # no plain answer

        assert push(signed_out, revision=1).status_code == 200
        assert status(signed_out) == {
            "signed_in": True,
            "method": "api_key",
            "subscription": False,
            "stored_credential": "api_key",
            "revision": 1,
        }
        # The same connection, no restart of anything: the next turn is signed in.
        working = await turn(chat, "use a tool please")
        assert [e["type"] for e in working][-1] == "done", working
        assert working[-1]["is_error"] is False
        tool = next(e for e in working if e["type"] == "tool_result")
        match = re.search(r"pid=(\d+)", str(tool["content"]))
        assert match is not None
        claude_pid = int(match.group(1))
        assert f"ANTHROPIC_API_KEY={KEY}".encode() in environ(claude_pid).split(b"\0")

        assert clear(signed_out, revision=2).status_code == 200
        assert status(signed_out)["method"] == "none"
        assert not credential_file(signed_out).exists()
        # The Claude started with the cleared key is stopped; the next turn is signed out again.
        await eventually(lambda: not alive(claude_pid), what="the Claude holding the key stopped")
        again = await turn(chat, "still there?")
        assert again[-1]["error"] == "claude_not_signed_in"


def test_the_credential_file_is_private_and_an_older_push_changes_nothing(
    signed_out: LocalAgent,
) -> None:
    assert push(signed_out, revision=10).status_code == 200
    path = credential_file(signed_out)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text() == f"ANTHROPIC_API_KEY\n{KEY}\n"

    late = push(signed_out, revision=9, value="sk-ant-api03-older-value-" + "A" * 30)
    assert late.status_code == 200
    assert late.json()["revision"] == 10
    assert path.read_text() == f"ANTHROPIC_API_KEY\n{KEY}\n"
    assert clear(signed_out, revision=9).json()["method"] == "api_key"  # a late clear, ignored
    assert clear(signed_out, revision=11).json()["method"] == "none"
    assert clear(signed_out, revision=11).json()["method"] == "none"  # again: the same answer


def test_claude_s_own_sign_in_in_the_home_counts(signed_out: LocalAgent) -> None:
    sign_in = signed_out.root / ".claude" / ".credentials.json"
    sign_in.parent.mkdir(exist_ok=True)
    sign_in.write_text('{"claudeAiOauth": {}}')
    try:
        found = status(signed_out)
        assert found["method"] == "subscription"
        assert found["subscription"] is True
    finally:
        sign_in.unlink()
    assert status(signed_out)["method"] == "none"


def test_a_push_needs_the_agent_secret_and_a_well_formed_value(signed_out: LocalAgent) -> None:
    body = {"kind": "api_key", "value": KEY, "revision": 50}
    assert httpx.put(f"{signed_out.url}/credentials", json=body).status_code == 401
    assert push(signed_out, revision=50, value="two words").status_code == 422
    assert push(signed_out, revision=50, value="line\nbreak").status_code == 422
    assert push(signed_out, revision=50, value="sk-ant-a").status_code == 422  # no real one is
    assert push(signed_out, revision=50, value=KEY[:39]).status_code == 422  # this short
    assert status(signed_out)["revision"] != 50


def test_the_key_is_in_no_agent_log_and_not_in_the_agent_s_environment(
    signed_out: LocalAgent,
) -> None:
    push(signed_out, revision=100)
    log = signed_out.root.parent / "agent.log"
    assert KEY not in log.read_text(errors="replace")
    agent_pids = [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and _environ_has(int(p.name), f"AGENT_SECRET={signed_out.secret}")
    ]  # the agent, and Claude processes of its chats (their own, which may hold the key)
    assert agent_pids, "the agent process was not found"
    for pid in agent_pids:
        if Path(f"/proc/{pid}/comm").read_text().strip() != "claude":
            assert KEY.encode() not in environ(pid)
    clear(signed_out, revision=101)


def _environ_has(pid: int, entry: str) -> bool:
    try:
        return entry.encode() in environ(pid).split(b"\0")
    except OSError:
        return False
