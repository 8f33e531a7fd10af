"""The real Claude Code (``claudecloud/instance:latest``, built with it) reads the key from where
the product puts it: signed out it says "Not logged in" (a typed ``claude_not_signed_in`` in
chat); with a made-up key delivered as the gateway delivers it (``PUT /credentials`` on the
agent) it tries Anthropic instead, which it cannot reach here (``ANTHROPIC_BASE_URL`` points at a
closed port, and no retries, so the failure is quick and the same with or without internet)."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import docker
import httpx
import pytest
import websockets
from docker.models.containers import Container

from devstack.engine import DEFAULT_IMAGE, ROOT, docker_answers
from tests.support import eventually

IMAGE = DEFAULT_IMAGE
MADE_UP_KEY = f"sk-ant-api03-{secrets.token_urlsafe(40)}-madeUpAA"

pytestmark = pytest.mark.timeout(600)


@dataclass
class RealAgent:
    url: str
    secret: str
    container: Container

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


@pytest.fixture(scope="module")
def real_agent() -> Iterator[RealAgent]:
    if not docker_answers():
        pytest.fail("no Docker engine answers (make docker-engine)")
    build = subprocess.run(["bash", str(ROOT / "docker" / "instance" / "build.sh")], check=False)
    if build.returncode != 0:
        pytest.fail(f"building {IMAGE} (with the real Claude Code) failed")
    engine = docker.from_env(version="1.41", timeout=120)
    secret = secrets.token_urlsafe(32)
    container = engine.containers.run(
        IMAGE,
        detach=True,
        name=f"claude-real-{uuid.uuid4().hex[:8]}",
        environment={
            "AGENT_SECRET": secret,
            "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
            "CLAUDE_CODE_MAX_RETRIES": "0",
        },
        ports={"3001/tcp": ("127.0.0.1", None)},
        labels={"io.claudecloud.test": "real-claude"},
    )
    try:
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["3001/tcp"][0]["HostPort"]
        agent = RealAgent(f"http://127.0.0.1:{port}", secret, container)

        def healthy() -> bool:
            try:
                return httpx.get(f"{agent.url}/healthz", headers=agent.headers).status_code == 200
            except httpx.HTTPError:
                return False

        asyncio.run(eventually(healthy, timeout=60, what="the real image's agent answering"))
        yield agent
    finally:
        container.remove(force=True, v=True)
        engine.close()


async def chat_turn(agent: RealAgent, text: str) -> list[dict[str, Any]]:
    url = agent.url.replace("http://", "ws://", 1) + "/chat"
    events: list[dict[str, Any]] = []
    async with websockets.connect(url, additional_headers=agent.headers) as chat:
        await chat.send(json.dumps({"type": "prompt", "text": text}))
        while not events or events[-1]["type"] not in ("done", "error"):
            events.append(json.loads(await asyncio.wait_for(chat.recv(), 120)))
    return events


async def test_the_real_claude_reads_the_key_from_where_the_product_puts_it(
    real_agent: RealAgent,
) -> None:
    signed_out = await chat_turn(real_agent, "hello")
    assert signed_out[-1].get("error") == "claude_not_signed_in", signed_out

    body = {"kind": "api_key", "value": MADE_UP_KEY, "revision": 1}
    async with httpx.AsyncClient(headers=real_agent.headers) as client:
        pushed = await client.put(f"{real_agent.url}/credentials", json=body)
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["method"] == "api_key"

    signed_in = await chat_turn(real_agent, "hello again")
    text = " ".join(str(e.get("text", "")) for e in signed_in)
    assert signed_in[-1].get("error") != "claude_not_signed_in", signed_in
    assert "Not logged in" not in text, signed_in
    assert signed_in[-1]["type"] == "done", signed_in
    assert signed_in[-1]["is_error"] is True, signed_in

    inspected = json.dumps(
        real_agent.container.client.api.inspect_container(real_agent.container.id)
    )
    assert MADE_UP_KEY not in inspected
    assert MADE_UP_KEY.encode() not in real_agent.container.logs()
