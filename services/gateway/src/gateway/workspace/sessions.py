"""A terminal or chat WebSocket that outlives its instance's pauses.

Opened on a paused or frozen instance, it wakes it and says so on the socket while it waits. A
keystroke into a frozen instance's open terminal thaws it (the relay asks for the wake; the key
waits in the socket and arrives with its echo). When the agent's side goes away because the
instance stopped, the client stays connected: it is told, and its next message wakes the
instance, which is reached again (the terminal's opening message replayed, so the pane is drawn
at the client's size) and gets that message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass

from starlette.websockets import WebSocket
from websockets.asyncio.client import ClientConnection

from claudecloud_common.contracts.instances import InstanceStatus, InstanceView

from .agents import (
    AgentEndpoints,
    BridgeLimits,
    Ended,
    Message,
    close_client,
    open_upstream,
    receive,
    relay,
)
from .errors import AgentUnavailable
from .waking import Waker, Watch

S = InstanceStatus

RESUMABLE = frozenset({S.PAUSING, S.PAUSED, S.FROZEN, S.WAKING})
"""The agent went away because the instance is pausing or paused: the session waits for it."""


@dataclass(frozen=True)
class Socket:
    """What is proxied: the agent's path, and how a status line is written on it."""

    path: str
    terminal: bool
    """ttyd's protocol (a status line is terminal output); else chat's JSON events."""

    def status(self, text: str) -> Message:
        if self.terminal:
            return b"0" + f"\r\n\x1b[2m[claude-cloud] {text}\x1b[0m\r\n".encode()
        return json.dumps({"type": "status", "text": text})


class Session:
    """One client's socket to one instance, for as long as the client keeps it."""

    def __init__(
        self,
        client: WebSocket,
        waker: Waker,
        view: InstanceView,
        socket: Socket,
        limits: BridgeLimits,
    ) -> None:
        self.client = client
        self.waker = waker
        self.view = view
        self.socket = socket
        self.limits = limits
        self.offered: list[str] = list(client.scope.get("subprotocols") or [])
        self.opening: Message | None = None
        """The terminal's first message (its size), replayed to every new agent connection."""
        self._watch: Watch | None = None
        self._nudged = False

    async def serve(self) -> None:
        """Accept, reach the agent (waking it when needed), relay; again after each stop."""
        async with self.waker.watching(self.view.id) as watch:
            self._watch = watch
            try:
                upstream: ClientConnection | None = await self._first_upstream()
            except _ClientLeft:
                return
            pending: Message | None = None
            while upstream is not None:
                if pending is not None:
                    await upstream.send(pending)
                ended = await relay(self.client, upstream, self.limits, self)
                upstream, pending = await self._after(ended)

    # Frozen (the relay asks)

    def frozen(self) -> bool:
        if self._watch is None or self._watch.status is not S.FROZEN:
            self._nudged = False
            return False
        return True

    async def nudge(self) -> None:
        if not self._nudged:
            self._nudged = True
            await self.waker.nudge(self.view)

    # Reaching the agent

    async def _first_upstream(self) -> ClientConnection:
        assert self._watch is not None
        if self._watch.status is S.RUNNING:
            with contextlib.suppress(AgentUnavailable):
                upstream = await self._connect()
                await self.client.accept(subprotocol=upstream.subprotocol)
                return await self._remember_opening(upstream)
        await self.client.accept(subprotocol=self.offered[0] if self.offered else None)
        return await self._remember_opening(await self._wake_and_connect())

    async def _wake_and_connect(self) -> ClientConnection:
        await self.waker.agent(self.view, self._say)
        try:
            return await self._connect()
        except AgentUnavailable:
            self.waker.endpoints.forget(self.view.id)  # made anew since: ask where it is now
            return await self._connect()

    async def _connect(self) -> ClientConnection:
        endpoints: AgentEndpoints = self.waker.endpoints
        agent = await endpoints.running(self.view.id)
        upstream = await open_upstream(agent, self.socket.path, self.offered, self.limits)
        if self.opening is not None:
            await upstream.send(self.opening)
        return upstream

    async def _remember_opening(self, upstream: ClientConnection) -> ClientConnection:
        """The terminal's client opens with its size (``{...}``): kept for reconnections."""
        if self.socket.terminal and self.opening is None:
            first = await receive(self.client)
            if first is None:
                await upstream.close()
                raise _ClientLeft
            if _is_opening(first):
                self.opening = first
            await upstream.send(first)
        return upstream

    # After the relay

    async def _after(self, ended: Ended) -> tuple[ClientConnection | None, Message | None]:
        assert self._watch is not None
        if ended.by_client or self._watch.status not in RESUMABLE:
            await close_client(self.client, ended.code, ended.reason)
            return None, None
        await self._say(f"your workstation is {self._watch.status.value}: type to wake it")
        pending = ended.pending or await self._input_or_running()
        if pending is _LEFT:
            return None, None
        upstream = await self._wake_and_connect()
        return upstream, pending if isinstance(pending, bytes | str) else None

    async def _input_or_running(self) -> Message | object:
        """The client's next message (it wakes the instance), or None once the instance runs
        again by someone else's wake; ``_LEFT`` when the client went away."""
        assert self._watch is not None
        typed = asyncio.create_task(receive(self.client))
        woken = asyncio.create_task(self._watch.until(lambda now: now is S.RUNNING))
        done, _ = await asyncio.wait({typed, woken}, return_when=asyncio.FIRST_COMPLETED)
        woken.cancel()
        if typed in done:
            found = typed.result()
            return _LEFT if found is None else found
        typed.cancel()
        return None

    async def _say(self, text: str) -> None:
        message = self.socket.status(text)
        if isinstance(message, bytes):
            await self.client.send_bytes(message)
        else:
            await self.client.send_text(message)


class _ClientLeft(Exception):
    """The client went away before it said anything."""


_LEFT = object()


def _is_opening(message: Message) -> bool:
    return message[:1] in (b"{", "{")
