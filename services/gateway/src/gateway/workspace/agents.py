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
from typing import Any, Protocol
from uuid import UUID

import httpx
import websockets
from faststream.nats import NatsBroker
from pydantic import SecretStr
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from claudecloud_common.contracts.instances import (
    GetInstanceEndpoint,
    InstanceEndpoint,
    InstanceStatus,
)
from claudecloud_common.logging import describe_error, get_logger
from claudecloud_common.rpc import request

from ..instances.cache import EventFreshCache
from .errors import AgentUnavailable, InstanceNotRunning

log = get_logger(__name__)

_FORWARDED_RESPONSE_HEADERS = ("content-type", "content-length", "content-encoding")
_CONNECT_RETRY_SECONDS = 0.5
"""How long a refused connection waits before its one retry (an agent restarting)."""
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
            query = GetInstanceEndpoint(instance_id=instance_id)
            return await request(self.broker, query, timeout=self.rpc_timeout)

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
        for again in (True, False):
            try:
                return await self.client.send(upstream, stream=True)
            except httpx.TimeoutException as exc:
                raise AgentUnavailable("the instance's agent did not answer in time") from exc
            except httpx.TransportError as exc:
                if not (again and _safe_to_repeat(method, exc)):
                    raise AgentUnavailable("the instance's agent does not answer") from exc
                # A kept-alive connection the agent dropped (it restarted, its machine was
                # stopped and started), or an agent starting up: once more, on a new one.
                log.info("proxy.agent_retried", error=describe_error(exc))
                if isinstance(exc, httpx.ConnectError):
                    await asyncio.sleep(_CONNECT_RETRY_SECONDS)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        await self.client.aclose()


def _safe_to_repeat(method: str, exc: httpx.TransportError) -> bool:
    """A read may be sent again; a change only when it never left (the connection failed)."""
    return method in ("GET", "HEAD") or isinstance(exc, httpx.ConnectError)


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
    """The agent's WebSocket at ``path``, authenticated with its secret. Its keepalive is the
    relay's (:func:`relay`), which knows when the instance is frozen."""
    try:
        return await websockets.connect(
            f"ws://{agent.host}{path}",
            additional_headers=agent.headers(),
            subprotocols=subprotocols or None,  # type: ignore[arg-type]
            max_size=limits.max_message_bytes,
            ping_interval=None,
            open_timeout=10,
            compression=None,  # terminal output is mostly small frames; deflate costs latency
            proxy=None,
        )
    except InvalidStatus as exc:
        log.warning("proxy.upstream_refused", status=exc.response.status_code)
        raise AgentUnavailable("the instance's agent refused the connection") from exc
    except (OSError, TimeoutError, WebSocketException) as exc:
        raise AgentUnavailable("the instance's agent does not answer") from exc


Message = bytes | str


@dataclass(frozen=True)
class Ended:
    """Why a relay stopped: the client left or broke a rule (``by_client``), or the agent's side
    went away; ``pending`` is what the client sent that the agent never got."""

    code: int
    reason: str
    by_client: bool
    pending: Message | None = None


class Frozen(Protocol):
    """What the relay asks of the session: is the instance frozen (nothing in it answers, and
    a keystroke should wake it), and the wake itself."""

    def frozen(self) -> bool: ...

    async def nudge(self) -> None: ...


async def relay(
    client: WebSocket, upstream: ClientConnection, limits: BridgeLimits, state: Frozen
) -> Ended:
    """Copy messages both ways until one side ends; the agent's side is pinged except while
    the instance is frozen, and a message for a frozen instance wakes it on its way."""
    tasks = {
        asyncio.create_task(_client_to_agent(client, upstream, limits, state)),
        asyncio.create_task(_agent_to_client(upstream, client)),
        asyncio.create_task(_keepalive(upstream, limits.ping_interval, state)),
    }
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    ended: Ended = next(iter(done)).result()
    if ended.by_client:
        await upstream.close(CloseCode.NORMAL, "the client went away")
    else:
        await upstream.close()
    return ended


async def _client_to_agent(
    client: WebSocket, upstream: ClientConnection, limits: BridgeLimits, state: Frozen
) -> Ended:
    while True:
        data = await receive(client)
        if data is None:
            return Ended(CloseCode.NORMAL, "the client went away", by_client=True)
        if len(data) > limits.max_message_bytes:
            reason = f"messages are limited to {limits.max_message_bytes} bytes"
            return Ended(CloseCode.TOO_BIG, reason, by_client=True)
        if state.frozen():
            await state.nudge()  # the message waits in the socket until the thaw, then arrives
        try:
            await upstream.send(data)
        except ConnectionClosed:
            return _upstream_gone(upstream, pending=data)


async def receive(client: WebSocket) -> Message | None:
    """The client's next message, or None when it went away."""
    message = await client.receive()
    if message["type"] == "websocket.disconnect":
        return None
    data: bytes | str | None = message.get("bytes")
    return data if data is not None else message.get("text") or ""


async def _agent_to_client(upstream: ClientConnection, client: WebSocket) -> Ended:
    try:
        async for data in upstream:
            if isinstance(data, bytes):
                await client.send_bytes(data)
            else:
                await client.send_text(data)
    except ConnectionClosed:
        pass
    except (WebSocketDisconnect, RuntimeError):
        return Ended(CloseCode.NORMAL, "the client went away", by_client=True)
    return _upstream_gone(upstream)


async def _keepalive(upstream: ClientConnection, interval: float, state: Frozen) -> Ended:
    """Ping the agent every ``interval``; a ping unanswered for as long ends the relay, unless
    the instance froze meanwhile (then silence is expected: a keystroke wakes it)."""
    while True:
        await asyncio.sleep(interval)
        if state.frozen():
            continue
        try:
            await asyncio.wait_for(await upstream.ping(), interval)
        except TimeoutError:
            if not state.frozen():
                return Ended(CloseCode.UPSTREAM_GONE, _GONE, by_client=False)
        except ConnectionClosed:
            return _upstream_gone(upstream)


_GONE = "upstream gone: the instance's agent went away"


def _upstream_gone(upstream: ClientConnection, pending: Message | None = None) -> Ended:
    closed = upstream.protocol.close_rcvd
    if closed is not None and closed.code in _PASSED_THROUGH:
        reason = closed.reason or "the instance closed the connection"
        return Ended(closed.code, reason, by_client=False, pending=pending)
    return Ended(CloseCode.UPSTREAM_GONE, _GONE, by_client=False, pending=pending)


async def close_client(client: WebSocket, code: int, reason: str) -> None:
    if client.application_state is WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await client.close(code, reason[:120])
