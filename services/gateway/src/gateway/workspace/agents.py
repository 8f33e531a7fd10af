"""Reaching an instance's agent: where it answers (asked of the provisioner, cached briefly), its
HTTP calls streamed through, and its WebSockets bridged.

The gateway adds the agent's secret to every upstream call and forwards nothing of the user's own
credentials: no ``Authorization``, no cookie, no query string beyond what the route names. The
secret travels only in a header; it never appears in a URL, a log line or an error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import websockets
from faststream.nats import NatsBroker
from pydantic import SecretStr
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from claudecloud_common.bus import request
from claudecloud_common.contracts.instances import (
    GetInstanceEndpoint,
    InstanceEndpoint,
    InstanceStatus,
    InstanceSubject,
)
from claudecloud_common.logging import get_logger

from ..instances.cache import EventFreshCache
from .errors import AgentUnavailable, InstanceNotRunning

log = get_logger(__name__)

_FORWARDED_RESPONSE_HEADERS = ("content-type", "content-length", "content-encoding")
_PASSED_THROUGH = frozenset({1000, 1008, 1009})
"""Close codes from the agent that mean the same to the client (done, refused, too big)."""


class CloseCode:
    """Close codes the bridge uses; a refusal before it closes with 4000 + its HTTP status."""

    NORMAL = 1000
    TOO_BIG = 1009
    UPSTREAM_GONE = 4502


@dataclass(frozen=True)
class Agent:
    """A running instance's agent: its owner, address and secret."""

    instance_id: UUID
    user_id: UUID
    host: str
    secret: SecretStr

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret.get_secret_value()}"}


class AgentEndpoints:
    """``rpc.instance.endpoint`` with a short cache, so a burst of calls asks once."""

    def __init__(self, broker: NatsBroker, *, rpc_timeout: float, ttl_seconds: float) -> None:
        self.broker = broker
        self.rpc_timeout = rpc_timeout
        self._cache: EventFreshCache[InstanceEndpoint] = EventFreshCache(ttl_seconds)

    async def lookup(self, instance_id: UUID) -> InstanceEndpoint:
        """The instance's endpoint; raises ``InstanceNotFound`` (from the provisioner)."""

        async def ask() -> InstanceEndpoint:
            found = await request(
                self.broker,
                InstanceSubject.ENDPOINT,
                GetInstanceEndpoint(instance_id=instance_id),
                InstanceEndpoint,
                timeout=self.rpc_timeout,
            )
            assert found is not None
            return found

        return await self._cache.get(
            instance_id, ask, keep=lambda found: found.status is InstanceStatus.RUNNING
        )

    def forget(self, instance_id: UUID) -> None:
        self._cache.changed(instance_id)

    async def running(self, instance_id: UUID) -> Agent:
        """The agent of a running instance, or :class:`InstanceNotRunning` saying its status."""
        endpoint = await self.lookup(instance_id)
        if (
            endpoint.status is not InstanceStatus.RUNNING
            or endpoint.host is None
            or endpoint.agent_secret is None
        ):
            raise InstanceNotRunning(
                f"instance {instance_id} is {endpoint.status.value}, not running",
                status=endpoint.status.value,
            )
        return Agent(instance_id, endpoint.user_id, endpoint.host, endpoint.agent_secret)


class AgentHttp:
    """Streams one call to an agent and its answer back, status and body as the agent gave."""

    def __init__(self, timeout: float) -> None:
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=5.0), follow_redirects=False
        )

    async def send(
        self,
        agent: Agent,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        upstream = self.client.build_request(
            method,
            f"http://{agent.host}{path}",
            params=params,
            json=json,
            headers=agent.headers(),
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        try:
            return await self.client.send(upstream, stream=True)
        except httpx.TimeoutException as exc:
            raise AgentUnavailable("the instance's agent did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise AgentUnavailable("the instance's agent does not answer") from exc

    async def close(self) -> None:
        await self.client.aclose()


def response_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower() in _FORWARDED_RESPONSE_HEADERS}


async def body_of(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    finally:
        await response.aclose()


@dataclass(frozen=True)
class BridgeLimits:
    max_message_bytes: int
    ping_interval: float


async def open_upstream(
    agent: Agent, path: str, subprotocols: list[str], limits: BridgeLimits
) -> ClientConnection:
    """The agent's WebSocket at ``path``, authenticated with its secret."""
    try:
        return await websockets.connect(
            f"ws://{agent.host}{path}",
            additional_headers=agent.headers(),
            subprotocols=subprotocols or None,  # type: ignore[arg-type]
            max_size=limits.max_message_bytes,
            ping_interval=limits.ping_interval,
            ping_timeout=limits.ping_interval,
            open_timeout=10,
            compression=None,  # terminal output is mostly small frames; deflate costs latency
            proxy=None,
        )
    except InvalidStatus as exc:
        log.warning("proxy.upstream_refused", status=exc.response.status_code)
        raise AgentUnavailable("the instance's agent refused the connection") from exc
    except (OSError, TimeoutError, WebSocketException) as exc:
        raise AgentUnavailable("the instance's agent does not answer") from exc


async def bridge(client: WebSocket, upstream: ClientConnection, limits: BridgeLimits) -> None:
    """Copy messages both ways until one side closes, then close the other with a reason."""
    to_agent = asyncio.create_task(_client_to_agent(client, upstream, limits))
    to_client = asyncio.create_task(_agent_to_client(upstream, client))
    done, pending = await asyncio.wait({to_agent, to_client}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    code, reason = next(iter(done)).result()
    if to_agent in done:  # the client left (or broke a rule): tell the agent
        await upstream.close(CloseCode.NORMAL, "the client went away")
        await close_client(client, code, reason)
    else:
        await upstream.close()
        await close_client(client, code, reason)


async def _client_to_agent(
    client: WebSocket, upstream: ClientConnection, limits: BridgeLimits
) -> tuple[int, str]:
    while True:
        message = await client.receive()
        if message["type"] == "websocket.disconnect":
            return CloseCode.NORMAL, "the client went away"
        data: bytes | str | None = message.get("bytes")
        if data is None:
            data = message.get("text") or ""
        if len(data) > limits.max_message_bytes:
            return CloseCode.TOO_BIG, f"messages are limited to {limits.max_message_bytes} bytes"
        try:
            await upstream.send(data)
        except ConnectionClosed:
            return _upstream_gone(upstream)


async def _agent_to_client(upstream: ClientConnection, client: WebSocket) -> tuple[int, str]:
    try:
        async for data in upstream:
            if isinstance(data, bytes):
                await client.send_bytes(data)
            else:
                await client.send_text(data)
    except ConnectionClosed:
        pass
    except (WebSocketDisconnect, RuntimeError):
        return CloseCode.NORMAL, "the client went away"
    return _upstream_gone(upstream)


def _upstream_gone(upstream: ClientConnection) -> tuple[int, str]:
    closed = upstream.protocol.close_rcvd
    if closed is not None and closed.code in _PASSED_THROUGH:
        return closed.code, closed.reason or "the instance closed the connection"
    return CloseCode.UPSTREAM_GONE, "upstream gone: the instance's agent went away"


async def close_client(client: WebSocket, code: int, reason: str) -> None:
    if client.application_state is WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await client.close(code, reason[:120])
