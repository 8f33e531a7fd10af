"""One process that answers as every instance's agent, for the capacity and connection benchmarks.

The fake provider gives every machine this address (``PROVISIONER_FAKE_AGENT_HOST``) and a secret
of its own; this server accepts any secret and answers by it:

- ``GET /activity``: a scripted workstation, chosen by the secret: a few are typing (their input
  count grows on every poll), a few are running a chat turn, the rest are idle;
- ``WS /terminal``: ttyd's protocol, every input echoed back at once as output (so what a
  terminal through the gateway measures is the gateway);
- ``GET /healthz``.

    uv run python -m bench.agents --port PORT
"""

from __future__ import annotations

import argparse
import hashlib
import json
from enum import StrEnum

from aiohttp import WSMsgType, web

from claudecloud_agentapi.terminal import INPUT, OUTPUT, SUBPROTOCOL

TYPING_SHARE = 0.05
TURNS_SHARE = 0.05


class Doing(StrEnum):
    TYPING = "typing"
    TURN = "turn"
    IDLE = "idle"


def doing(secret: str) -> Doing:
    """What the workstation with ``secret`` is scripted to do: the same on every poll."""
    share = int.from_bytes(hashlib.blake2b(secret.encode(), digest_size=4).digest()) / 2**32
    if share < TYPING_SHARE:
        return Doing.TYPING
    if share < TYPING_SHARE + TURNS_SHARE:
        return Doing.TURN
    return Doing.IDLE


def report(what: Doing, polls: int) -> dict[str, object]:
    """The agent's ``GET /activity`` body on its ``polls``-th poll."""
    body: dict[str, object] = {
        "tmux_session": True, "tmux_clients": 0, "processes": 2, "busy": [], "terminals": 0,
        "chat_turns": 0, "boot_id": "bench", "inputs": 0, "turns_started": 0, "turns_ended": 0,
        "oom_kills": 0,
    }  # fmt: skip
    if what is Doing.TYPING:
        body |= {"tmux_clients": 1, "terminals": 1, "inputs": polls, "seconds_since_input": 1.0}
    elif what is Doing.TURN:
        body |= {"chat_turns": 1, "turns_started": 1}
    return body


def build_app() -> web.Application:
    polls: dict[str, int] = {}

    async def activity(request: web.Request) -> web.Response:
        secret = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not secret:
            return web.Response(status=401)
        polls[secret] = polls.get(secret, 0) + 1
        return web.json_response(report(doing(secret), polls[secret]), dumps=json.dumps)

    async def terminal(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(protocols=(SUBPROTOCOL,), autoping=True, compress=False)
        await socket.prepare(request)
        await socket.send_bytes(OUTPUT + b"bench$ ")
        async for message in socket:
            if message.type is WSMsgType.BINARY and message.data[:1] == INPUT:
                await socket.send_bytes(OUTPUT + message.data[1:])
        return socket

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.add_routes(
        [
            web.get("/activity", activity),
            web.get("/terminal", terminal),
            web.get("/healthz", healthz),
        ]
    )
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(build_app(), host="127.0.0.1", port=args.port, print=None, backlog=4096)
