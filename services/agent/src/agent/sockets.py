"""The agent's WebSockets: the terminal and the chat. Both require the instance's secret."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from claudecloud_agentapi.terminal import (
    INPUT,
    OPENING,
    OUTPUT,
    PAUSE,
    PREFERENCES,
    RESIZE,
    RESUME,
    SUBPROTOCOL,
    TITLE,
)

from .auth import AuthenticatedSocket
from .errors import AgentError
from .files import DataFolder
from .service import LiveCounts
from .settings import AgentSettings
from .terminal import Size, TmuxPty, ensure_session

if TYPE_CHECKING:
    from .chat import ChatSession, Event

router = APIRouter(dependencies=[AuthenticatedSocket])

OPENING_TIMEOUT_SECONDS = 10.0
ATTACH_TIMEOUT_SECONDS = 10.0
SEND_BATCH_BYTES = 256 * 1024
CLOSE_POLICY = 1008
CLOSE_ERROR = 1011


@router.websocket("/terminal")
async def terminal(websocket: WebSocket) -> None:
    """A PTY on the tmux session in ttyd's protocol (see :mod:`agent.terminal`)."""
    settings: AgentSettings = websocket.app.state.settings
    live: LiveCounts = websocket.app.state.live
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    first = await _first_frame(websocket)
    if first is None:
        return
    size = Size.from_json(first) if first[:1] == OPENING else None  # the opening JSON, whole
    await ensure_session(settings.tmux_setup, settings.tmux_session, settings.data_dir)
    pty = TmuxPty(settings.tmux_session, settings.data_dir, size or Size(), settings.terminal_term)
    live.terminals += 1
    try:
        await websocket.send_bytes(TITLE + f"{settings.tmux_session} (ClaudeCloud)".encode())
        await websocket.send_bytes(PREFERENCES + b"{}")
        early = [] if first[:1] == OPENING else [first]  # a client that skipped the opening
        await _first_done(_pump_output(websocket, pty), _pump_input(websocket, pty, early))
    finally:
        live.terminals -= 1
        await pty.close()
    await _close(websocket, 1000, "the terminal session ended")


async def _first_frame(websocket: WebSocket) -> bytes | None:
    try:
        message = await asyncio.wait_for(websocket.receive(), OPENING_TIMEOUT_SECONDS)
    except TimeoutError:
        await _close(websocket, CLOSE_POLICY, "no opening message")
        return None
    if message["type"] == "websocket.disconnect":
        return None
    return _payload(message)


def _payload(message: Any) -> bytes:
    data = message.get("bytes")
    if data is None:
        data = (message.get("text") or "").encode()
    return bytes(data)


async def _pump_output(websocket: WebSocket, pty: TmuxPty) -> None:
    while True:
        chunk = await pty.output.get()
        if chunk is None:
            return
        batch = [chunk]
        size = len(chunk)
        while size < SEND_BATCH_BYTES and not pty.output.empty():
            more = pty.output.get_nowait()
            if more is None:
                await pty.output.put(None)  # seen again after this batch is sent
                break
            batch.append(more)
            size += len(more)
        pty.drained()
        await websocket.send_bytes(OUTPUT + b"".join(batch))


async def _pump_input(websocket: WebSocket, pty: TmuxPty, early: list[bytes]) -> None:
    # Until tmux has attached, frames wait in the WebSocket, in order (see agent.terminal).
    await pty.wait_attached(ATTACH_TIMEOUT_SECONDS)
    for frame in early:
        await _apply(pty, frame)
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        frame = _payload(message)
        if frame[:1] == INPUT:  # typing keeps an instance awake; an open terminal does not
            websocket.app.state.live.input_seen()
        await _apply(pty, frame)


async def _apply(pty: TmuxPty, frame: bytes) -> None:
    command, payload = frame[:1], frame[1:]
    if command == INPUT:
        await pty.write(payload)
    elif command == RESIZE:
        size = Size.from_json(payload)
        if size is not None:
            pty.resize(size)
    elif command == PAUSE:
        pty.pause()
    elif command == RESUME:
        pty.resume()
    # Anything else (a repeated opening message, an unknown command) is ignored, as ttyd does.


@router.websocket("/chat")
async def chat(websocket: WebSocket, cwd: str = ".") -> None:
    """Chat with Claude: send ``{"type": "prompt", "text": ...}``, receive the turn's events;
    ``{"type": "interrupt"}`` stops the running turn. The folder's latest conversation is
    continued; ``{"type": "new"}`` (answered ``{"type": "new_conversation"}``) starts afresh."""
    settings: AgentSettings = websocket.app.state.settings
    await websocket.accept()
    try:
        folder = DataFolder.at(settings.data_dir)
        workdir = folder.resolve(cwd)
        if not workdir.is_dir():
            raise AgentError(f"{cwd!r} is not a folder")
    except AgentError as exc:
        await _close(websocket, CLOSE_POLICY, exc.detail[:120])
        return

    from .chat import ChatSession  # the SDK loads when the first chat opens, not at start-up

    async def send(event: Event) -> None:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.send_json(event)

    session = ChatSession(
        workdir,
        settings.claude_path,
        settings.chat_permission_mode,
        websocket.app.state.live,
        send,
        spend=websocket.app.state.spend.chat,
    )
    try:
        await _converse(websocket, session, send)
    finally:
        await session.close()


async def _converse(websocket: WebSocket, session: ChatSession, send: Any) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        try:
            request = json.loads(_payload(message))
            kind = request.get("type")
        except (ValueError, AttributeError):
            await send({"type": "error", "detail": "messages are JSON objects with a 'type'"})
            continue
        if kind == "prompt" and isinstance(request.get("text"), str) and request["text"].strip():
            if session.busy:
                await send({"type": "error", "detail": "a turn is already running"})
            else:
                session.start_turn(request["text"])
        elif kind == "interrupt":
            await session.interrupt()
        elif kind == "new":
            if session.busy:
                await send({"type": "error", "detail": "a turn is already running"})
            else:
                await session.start_new()
                await send({"type": "new_conversation"})
        else:
            await send({"type": "error", "detail": "send {'type': 'prompt', 'text': ...}"})


async def _first_done(*coroutines: Any) -> None:
    tasks = [asyncio.create_task(c) for c in coroutines]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state != WebSocketState.DISCONNECTED:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code, reason)
