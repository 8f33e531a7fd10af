"""``git-credential-claudecloud``: git's credential helper on a ClaudeCloud workstation.

The system-wide git configuration names it for the git provider's host
(``credential.https://github.com.helper``), so every git on the workstation (the shell pane,
Claude in the terminal, the chat's Claude, the agent's own clones) uses it with no setup. For
``get`` it asks the agent, over the agent's Unix socket, for a current token of the
workstation's owner and prints it in git's ``key=value`` form; ``store`` and ``erase`` have
nothing to do (the platform keeps the token, and refreshes it when it expires).

When the owner has not connected the provider (or disconnected it) it says so on stderr, with
how to connect, and answers ``quit=1``: git stops there instead of asking for a password no one
will type. Standard library only, started as ``python -I -m agent.gitcredential`` (isolated:
the repository git runs in can shadow nothing).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
from datetime import datetime
from typing import Any, TextIO

SOCKET = "/opt/claudecloud/run/agent.sock"
TIMEOUT_SECONDS = 60.0
FIELDS = ("protocol", "host", "path")


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


def read_attributes(stream: TextIO) -> dict[str, str]:
    """git's ``key=value`` lines, up to a blank line or the end."""
    found: dict[str, str] = {}
    for raw in stream:
        line = raw.rstrip("\n")
        if not line:
            break
        key, sep, value = line.partition("=")
        if sep:
            found[key] = value
    return found


def ask(query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    path = os.environ.get("CLAUDECLOUD_AGENT_SOCKET", SOCKET)
    connection = UnixConnection(path, TIMEOUT_SECONDS)
    try:
        connection.request(
            "POST", "/git/credential", json.dumps(query), {"Content-Type": "application/json"}
        )
        answer = connection.getresponse()
        raw = answer.read()
    finally:
        connection.close()
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}
    return answer.status, body if isinstance(body, dict) else {}


def answer(status: int, body: dict[str, Any], out: TextIO, err: TextIO) -> None:
    """What git reads (``out``) and what the person sees (``err``) for the agent's answer."""
    detail = str(body.get("detail") or f"the workstation's agent answered {status}")
    if status == 200:
        out.write(f"username={body['username']}\npassword={body['password']}\n")
        expires = body.get("expires_at")
        if expires:
            out.write(f"password_expiry_utc={int(datetime.fromisoformat(expires).timestamp())}\n")
    elif status == 409:  # not connected: say how, and stop git asking anyone else
        err.write(f"{detail}\n")
        out.write("quit=1\n")
    elif status != 404:  # 404: not the provider's host, not ours to answer
        err.write(f"claudecloud: no token from the platform: {detail}\n")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    attributes = read_attributes(sys.stdin)
    if not args or args[0] != "get":
        return 0  # store, erase: the platform keeps and refreshes the token
    if attributes.get("protocol") not in ("http", "https") or not attributes.get("host"):
        return 0
    query = {key: attributes[key] for key in FIELDS if key in attributes}
    try:
        status, body = ask(query)
    except OSError as exc:
        sys.stderr.write(f"claudecloud: the workstation's agent did not answer ({exc})\n")
        return 0
    answer(status, body, sys.stdout, sys.stderr)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
