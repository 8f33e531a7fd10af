"""Chat with Claude through the Claude Agent SDK, one turn at a time, as JSON events.

A connection is one conversation: the SDK starts Claude Code (``claude``) on the first prompt, in
the working directory the connection named, and keeps it for the next turns. Each turn streams
``text``, ``tool_use`` and ``tool_result`` events and ends with ``done`` (or ``error``). When the
client goes away the running turn is interrupted and Claude Code is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from claude_agent_sdk import (
    AssistantMessage,
    ClaudeAgentOptions,
    ClaudeSDKClient,
    ClaudeSDKError,
    CLINotFoundError,
    ResultMessage,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)
from claude_agent_sdk.types import Message, PermissionMode

from .service import LiveCounts

Event = dict[str, Any]
Send = Callable[[Event], Awaitable[None]]
INTERRUPT_GRACE_SECONDS = 2.0


def events_of(message: Message) -> Iterator[Event]:
    """The chat events one SDK message stands for (none for bookkeeping messages)."""
    if isinstance(message, AssistantMessage | UserMessage) and isinstance(message.content, list):
        for block in message.content:
            if isinstance(block, TextBlock) and isinstance(message, AssistantMessage):
                yield {"type": "text", "text": block.text}
            elif isinstance(block, ToolUseBlock):
                yield {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
            elif isinstance(block, ToolResultBlock):
                yield {
                    "type": "tool_result",
                    "tool_use_id": block.tool_use_id,
                    "content": block.content,
                    "is_error": bool(block.is_error),
                }
    elif isinstance(message, ResultMessage):
        yield {
            "type": "done",
            "session_id": message.session_id,
            "is_error": message.is_error,
            "subtype": message.subtype,
            "duration_ms": message.duration_ms,
            "num_turns": message.num_turns,
            "total_cost_usd": message.total_cost_usd,
        }


class ChatSession:
    """One connection's conversation with Claude Code."""

    def __init__(
        self,
        cwd: Path,
        claude_path: str,
        permission_mode: PermissionMode,
        live: LiveCounts,
        send: Send,
    ) -> None:
        self.cwd = cwd
        self.claude_path = claude_path
        self.permission_mode = permission_mode
        self.live = live
        self.send = send
        self.client: ClaudeSDKClient | None = None
        self.turn: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        return self.turn is not None and not self.turn.done()

    def start_turn(self, prompt: str) -> None:
        self.turn = asyncio.create_task(self._run_turn(prompt))

    async def interrupt(self) -> None:
        if self.client is not None and self.busy:
            with contextlib.suppress(ClaudeSDKError, TimeoutError):
                await asyncio.wait_for(self.client.interrupt(), INTERRUPT_GRACE_SECONDS)

    async def close(self) -> None:
        """Stop the running turn, if any, and Claude Code with it."""
        if self.busy:
            await self.interrupt()
            assert self.turn is not None
            self.turn.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.turn
        if self.client is not None:
            client, self.client = self.client, None
            with contextlib.suppress(Exception):
                await client.disconnect()

    async def _run_turn(self, prompt: str) -> None:
        self.live.turn_started()
        try:
            client = await self._client()
            await client.query(prompt)
            async for message in client.receive_response():
                for event in events_of(message):
                    await self.send(event)
        except CLINotFoundError:
            await self.send({"type": "error", "detail": "Claude Code is not installed here"})
        except ClaudeSDKError as exc:
            await self.send({"type": "error", "detail": f"Claude Code failed: {exc}"})
            await self._drop_client()
        finally:
            self.live.turn_ended()

    async def _client(self) -> ClaudeSDKClient:
        if self.client is None:
            options = ClaudeAgentOptions(
                cwd=str(self.cwd),
                cli_path=shutil.which(self.claude_path) or self.claude_path,
                permission_mode=self.permission_mode,
            )
            client = ClaudeSDKClient(options)
            await client.connect()
            self.client = client
        return self.client

    async def _drop_client(self) -> None:
        # After a failure the process may be gone or wedged; the next turn starts a fresh one.
        if self.client is not None:
            client, self.client = self.client, None
            with contextlib.suppress(Exception):
                await client.disconnect()
