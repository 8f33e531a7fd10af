"""Signing a workstation in to Claude, as a user does it through the gateway, on real containers
whose ``claude`` is the stand-in (signed out without credentials, as the real CLI is).

The made-up key is checked for everywhere it must not be: every API answer, ``docker inspect``,
the environment of every process in the container but Claude's own, and every log line.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import websockets
from docker.models.containers import Container

from tests.gateway.workspace.conftest import ORIGIN, Proxied, User, exec_in
from tests.support import eventually

KEY = f"sk-ant-api03-{secrets.token_urlsafe(30)}-madeUpKeyAA"
CLI = str(Path(sys.executable).parent / "claude-cloud")
LEFT_PANE = "'claude:0.{left}'"
CREDENTIAL_FILE = "/claude-data/.config/claudecloud/claude-credential"
SIGN_IN_FILE = "/claude-data/.claude/.credentials.json"


class Api:
    """A user's API calls; every answer is checked for the key before it is returned."""

    def __init__(self, proxied: Proxied, user: User) -> None:
        self.proxied = proxied
        self.user = user

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async with self.proxied.api(self.user) as api:
            response = await api.request(method, path, **kwargs)
        assert KEY not in response.text, f"{method} {path} answered with the key"
        assert KEY not in str(response.headers)
        return response

    async def store(self, value: str = KEY) -> httpx.Response:
        return await self.call(
            "PUT", "/me/claude-credential", json={"kind": "api_key", "value": value}
        )

    async def claude(self) -> dict[str, Any]:
        response = await self.call("GET", f"/instances/{self.user.instance_id}/claude")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def status_becomes(self, status: str) -> None:
        async def reached() -> bool:
            view = (await self.call("GET", f"/instances/{self.user.instance_id}")).json()
            assert view["status"] != "failed", view
            return bool(view["status"] == status)

        await eventually(reached, timeout=120, what=f"the instance {status}")


async def signed_out_user(proxied: Proxied, name: str) -> User:
    user = await proxied.new_user(name)
    code, output = exec_in(user.container, f"rm -f {SIGN_IN_FILE}")
    assert code == 0, output
    return user


async def open_chat(proxied: Proxied, user: User) -> websockets.ClientConnection:
    ticket = await proxied.ticket(user)
    url = f"{proxied.ws_base}/instances/{user.instance_id}/chat?ticket={ticket}"
    return await websockets.connect(url, origin=ORIGIN)  # type: ignore[arg-type]


async def turn(chat: websockets.ClientConnection, text: str) -> list[dict[str, Any]]:
    await chat.send(json.dumps({"type": "prompt", "text": text}))
    events = []
    while True:
        raw = await asyncio.wait_for(chat.recv(), 30)
        assert KEY not in str(raw)
        events.append(json.loads(raw))
        if events[-1]["type"] in ("done", "error"):
            return events


def left_pane(container: Container) -> str:
    code, output = exec_in(container, f"tmux capture-pane -p -J -S - -t {LEFT_PANE}")
    assert code == 0, output
    return output


def holders_of_the_key(container: Container) -> list[str]:
    """The command lines of the container's processes whose environment holds the key (read as
    the instance's user, who runs every process there; root lacks the ptrace right it takes;
    nothing of the key is on the reading command's own line)."""
    script = (
        'for p in /proc/[0-9]*; do printf "\\n== %s\\n" "$(tr "\\0" " " < $p/cmdline)"; '
        'tr "\\0" "\\n" < $p/environ; done 2>/dev/null'
    )
    _, output = container.exec_run(["sh", "-c", script], user="claude")
    assert b"== " in output, output
    holders = []
    for block in output.decode(errors="replace").split("\n== ")[1:]:
        command, _, environ = block.partition("\n")
        if KEY in environ:
            holders.append(command)
    return holders


def is_claude(command: str) -> bool:
    words = command.split()
    return any(Path(word).name == "claude" for word in words[:2])


def assert_key_in_no_log(proxied: Proxied, container: Container) -> None:
    log_dir = proxied.stack.config.log_dir
    assert log_dir is not None
    for log in log_dir.glob("*.log"):
        assert KEY not in log.read_text(errors="replace"), f"the key is in {log.name}"
    assert KEY.encode() not in container.logs(), "the key is in the container's log"


def assert_key_stored_encrypted(proxied: Proxied) -> None:
    """Nothing the platform keeps on disk holds the key in clear: not the gateway's database, nor
    any other service's, nor the bus's JetStream store (the key never travels on the bus)."""
    data_dir = proxied.stack.config.data_dir
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert data_dir / "gateway.db" in files, files
    assert any("nats" in p.parts for p in files), files
    for path in files:
        assert KEY.encode() not in path.read_bytes(), f"the key is in {path} in clear"


async def test_signed_out_then_a_stored_key_then_cleared(proxied: Proxied) -> None:
    user = await signed_out_user(proxied, "key")
    api = Api(proxied, user)
    assert await api.claude() == {
        "instance_id": user.instance_id,
        "signed_in": False,
        "method": "none",
        "subscription": False,
        "stored_credential": None,
    }
    # The Claude pane's next Claude starts signed out, and the pane says how to sign in first
    # (Ctrl-D ends the stand-in running there, as it ends the interactive CLI).
    exec_in(user.container, f"tmux send-keys -t {LEFT_PANE} C-d")
    await eventually(
        lambda: (
            left_pane(user.container).rstrip().endswith("auth=none")
            and "Claude is not signed in on this workstation" in left_pane(user.container)
        ),
        timeout=30,
        what="the Claude pane saying it is signed out",
    )

    async with await open_chat(proxied, user) as chat:
        refused = await turn(chat, "hello")
        assert refused[-1]["type"] == "error", refused
        assert refused[-1]["error"] == "claude_not_signed_in"
        assert "/login" in refused[-1]["detail"]
        assert "claude-cloud claude-key set" in refused[-1]["detail"]

        stored = await api.store()
        assert stored.status_code == 200, stored.text
        assert stored.json()["kind"] == "api_key"
        assert stored.json()["last_four"] == KEY[-4:]
        assert stored.json()["delivered_to"] == [user.instance_id]
        shown = (await api.call("GET", "/me/claude-credential")).json()
        assert (shown["kind"], shown["last_four"]) == ("api_key", KEY[-4:])
        assert (await api.claude())["method"] == "api_key"

        # The same chat, nothing restarted by hand: the next turn is signed in.
        working = await turn(chat, "use a tool")
        assert working[-1]["type"] == "done", working
        assert working[-1]["is_error"] is False

        # The Claude pane's next Claude has it too (Ctrl-D ends the running one).
        exec_in(user.container, f"tmux send-keys -t {LEFT_PANE} C-d")
        await eventually(
            lambda: "auth=ANTHROPIC_API_KEY" in left_pane(user.container),
            timeout=30,
            what="the Claude pane's Claude signed in with the key",
        )

        # Where the key must not be.
        holders = holders_of_the_key(user.container)
        assert holders, "no Claude process holds the key"
        assert all(is_claude(command) for command in holders), holders
        inspected = json.dumps(proxied.engine.api.inspect_container(user.container.id))
        assert KEY not in inspected
        assert_key_in_no_log(proxied, user.container)
        assert_key_stored_encrypted(proxied)

        cleared = await api.call("DELETE", "/me/claude-credential")
        assert cleared.status_code == 204
        assert (await api.call("GET", "/me/claude-credential")).status_code == 404
        assert (await api.claude())["method"] == "none"
        code, _ = exec_in(user.container, f"test -e {CREDENTIAL_FILE}")
        assert code != 0, "the credential file is still in the instance"
        again = await turn(chat, "and now?")
        assert again[-1]["error"] == "claude_not_signed_in", again

    # Claude processes started with the key were stopped: none holds it any more.
    await eventually(
        lambda: not holders_of_the_key(user.container), what="no process holding the key"
    )
    await eventually(
        lambda: left_pane(user.container).rstrip().endswith("auth=none"),
        timeout=30,
        what="the Claude pane's Claude started again without the key",
    )
    assert_key_in_no_log(proxied, user.container)


async def test_sign_in_survives_pause_and_wake_a_key_arrives_at_wake_and_purge_forgets(
    proxied: Proxied,
) -> None:
    user = await proxied.new_user("login")  # signed in Claude's own way (the sign-in file)
    api = Api(proxied, user)
    assert (await api.claude())["method"] == "subscription"

    stop = {"keep_memory": False}
    assert (
        await api.call("POST", f"/instances/{user.instance_id}/pause", json=stop)
    ).status_code == 202
    await api.status_becomes("paused")
    stored = await api.store()  # while paused: delivered when it runs again
    assert stored.json()["delivered_to"] == []
    assert (await api.call("POST", f"/instances/{user.instance_id}/wake")).status_code == 202
    await api.status_becomes("running")
    container = proxied.engine.containers.get(user.container.name)

    def kept_key() -> bool:
        code, output = exec_in(container, f"cat {CREDENTIAL_FILE}")
        return code == 0 and output == f"ANTHROPIC_API_KEY\n{KEY}\n"

    await eventually(kept_key, timeout=60, what="the key delivered at wake")
    code, _ = exec_in(container, f"test -f {SIGN_IN_FILE}")
    assert code == 0, "Claude's own sign-in did not survive pause and wake"
    status = await api.claude()
    assert (status["method"], status["subscription"]) == ("api_key", True)

    destroyed = await api.call("DELETE", f"/instances/{user.instance_id}", params={"purge": "true"})
    assert destroyed.status_code == 202, destroyed.text
    await api.status_becomes("destroyed")
    created = await api.call("POST", "/instances")
    assert created.status_code == 202, created.text
    user.instance_id = created.json()["id"]
    await api.status_becomes("running")
    container = proxied.engine.containers.get(user.container.name)
    await eventually(kept_key, timeout=60, what="the key delivered to the new instance")
    code, _ = exec_in(container, f"test -e {SIGN_IN_FILE}")
    assert code != 0, "Claude's own sign-in survived a purge"
    status = await api.claude()
    assert (status["method"], status["subscription"]) == ("api_key", False)
    assert (await api.call("DELETE", "/me/claude-credential")).status_code == 204
    assert (await api.claude())["method"] == "none"
    assert_key_in_no_log(proxied, container)


async def test_a_credential_is_a_user_s_own_and_never_shown(proxied: Proxied) -> None:
    api = Api(proxied, proxied.b)
    assert (await api.call("GET", "/me/claude-credential")).status_code == 404
    bad = await api.call(
        "PUT", "/me/claude-credential", json={"kind": "api_key", "value": "two words here"}
    )
    assert bad.status_code == 422
    unknown = await api.call(
        "PUT", "/me/claude-credential", json={"kind": "password", "value": KEY}
    )
    assert unknown.status_code == 422
    other = await Api(proxied, proxied.a).call("GET", f"/instances/{proxied.b.instance_id}/claude")
    assert other.status_code == 404  # someone else's instance is no one's
    admin = await proxied.admin.put("/me/claude-credential", json={"kind": "api_key", "value": KEY})
    assert admin.status_code == 400
    assert KEY not in admin.text


async def test_the_cli_stores_a_key_read_from_stdin_and_clears_it(
    proxied: Proxied, tmp_path: Path
) -> None:
    home = tmp_path / "cli"
    home.mkdir()
    (home / "token").write_text(proxied.a.token)
    env = {"CLAUDE_CLOUD_HOME": str(home), "CLAUDE_CLOUD_API": proxied.base_url, "PATH": "/bin"}

    def cli(*args: str, given: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, "claude-key", *args],
            input=given,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    stored = await asyncio.to_thread(cli, "set", given=f"{KEY}\n")
    assert stored.returncode == 0, stored.stderr
    assert f"api_key ending in {KEY[-4:]}" in stored.stdout
    assert KEY not in stored.stdout + stored.stderr
    api = Api(proxied, proxied.a)
    assert (await api.call("GET", "/me/claude-credential")).json()["last_four"] == KEY[-4:]
    assert (await api.claude())["stored_credential"] == "api_key"

    cleared = await asyncio.to_thread(cli, "clear")
    assert cleared.returncode == 0, cleared.stderr
    assert (await api.call("GET", "/me/claude-credential")).status_code == 404
    assert (await api.claude())["method"] == "subscription"  # a's own sign-in is still there
