"""The gateway's calls to an agent, on a real socket: a read whose kept-alive connection the
agent dropped (it restarted, its machine was stopped and started) is sent once more on a new
connection, rather than answering the user 502; a change is sent again only when it never
left."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from pydantic import SecretStr

from gateway.workspace.agents import Agent, AgentHttp
from gateway.workspace.errors import AgentUnavailable

OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


class DroppingAgent:
    """Reads each request; drops the first ``drops`` connections without an answer."""

    def __init__(self, drops: int) -> None:
        self.drops = drops
        self.requests: list[bytes] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.requests.append(head.split(b"\r\n", 1)[0])
        if len(self.requests) > self.drops:
            writer.write(OK)
            await writer.drain()
        writer.close()


@pytest.fixture
async def http() -> AsyncIterator[AgentHttp]:
    client = AgentHttp(timeout=5)
    yield client
    await client.close()


async def serving(agent: DroppingAgent) -> tuple[asyncio.Server, Agent]:
    server = await asyncio.start_server(agent.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, Agent(uuid4(), uuid4(), f"127.0.0.1:{port}", SecretStr("s3cret"))


async def test_a_read_the_agent_dropped_is_sent_again_and_answers(http: AgentHttp) -> None:
    dropping = DroppingAgent(drops=1)
    server, agent = await serving(dropping)
    async with server:
        answer = await http.send(agent, "GET", "/chat/history", params={"cwd": "."})
        assert answer.status_code == 200
        await answer.aclose()
    assert dropping.requests == [b"GET /chat/history?cwd=. HTTP/1.1"] * 2


async def test_an_agent_that_drops_twice_is_unavailable(http: AgentHttp) -> None:
    server, agent = await serving(DroppingAgent(drops=2))
    async with server:
        with pytest.raises(AgentUnavailable):
            await http.send(agent, "GET", "/files")


async def test_a_change_that_reached_the_agent_is_not_sent_again(http: AgentHttp) -> None:
    dropping = DroppingAgent(drops=1)
    server, agent = await serving(dropping)
    async with server:
        with pytest.raises(AgentUnavailable):
            await http.send(agent, "POST", "/projects/clone", json={"url": "https://x/y.git"})
    assert dropping.requests == [b"POST /projects/clone HTTP/1.1"]
