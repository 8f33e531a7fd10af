"""Chat with Claude through the Claude Agent SDK, one turn at a time, as JSON events.

A connection is one conversation: the SDK starts Claude Code (``claude``) on the first prompt, in
the working directory the connection named, and keeps it for the next turns. It continues the
folder's latest conversation, the one Claude's own ``--continue`` would take (read from Claude's
transcript files, so it survives the instance's stop and start), through the SDK's resume;
:meth:`ChatSession.start_new` leaves it for a new one. Each turn streams
``text``, ``tool_use`` and ``tool_result`` events and ends with ``done`` (or ``error``). When the
client goes away the running turn is interrupted and Claude Code is stopped.

Claude Code gets the user's stored credential (see :mod:`agent.credentials`) in its own process's
environment only. When the credential changes between turns, the next turn starts a fresh Claude
Code that resumes the conversation. A turn Claude Code answers "Not logged in" ends with the typed
error ``claude_not_signed_in`` and the two ways in, instead of that text.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
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

from .credentials import NOT_SIGNED_IN, WAYS_IN, CredentialStore
from .service import LiveCounts
from .spend import ChatSpend
from .transcripts import latest_session

Event = dict[str, Any]
Send = Callable[[Event], Awaitable[None]]
INTERRUPT_GRACE_SECONDS = 2.0
NOT_SIGNED_IN_EVENT: Event = {"type": "error", "error": NOT_SIGNED_IN, "detail": WAYS_IN}


def signed_out(message: Message) -> bool:
    """Claude Code's answer when it has no credentials (``Not logged in · Please run /login``)."""
    return isinstance(message, AssistantMessage) and message.error == "authentication_failed"


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
        credentials: CredentialStore | None = None,
        spend: ChatSpend | None = None,
    ) -> None:
        self.cwd = cwd
        self.credentials = credentials or CredentialStore(Path.home())
        self.client_env: dict[str, str] = {}
        self.session_id: str | None = None
        self.claude_path = claude_path
        self.permission_mode = permission_mode
        self.live = live
        self.send = send
        self.spend = spend
        self.client: ClaudeSDKClient | None = None
        self.turn: asyncio.Task[None] | None = None
        self.continuing = True
        """Until the first turn (or :meth:`start_new`): continue the folder's latest
        conversation."""

    @property
    def busy(self) -> bool:
        return self.turn is not None and not self.turn.done()

    def start_turn(self, prompt: str) -> None:
        self.turn = asyncio.create_task(self._run_turn(prompt))

    async def start_new(self) -> None:
        """The next prompt starts a new conversation instead of continuing this one."""
        await self._drop_client()
        self.session_id = None
        self.continuing = False

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
            refused = False
            async for message in client.receive_response():
                self.continuing = False  # Claude answered: the conversation is this one now
                refused = refused or signed_out(message)
                if isinstance(message, ResultMessage) and self.spend is not None:
                    self.spend.add(message.total_cost_usd, message.usage, datetime.now(UTC))
                for event in [] if refused else events_of(message):
                    if event["type"] == "done":
                        self.session_id = event["session_id"]
                    await self.send(event)
            if refused:
                await self.send(NOT_SIGNED_IN_EVENT)
                await self._drop_client()
        except CLINotFoundError:
            await self.send({"type": "error", "detail": "Claude Code is not installed here"})
        except ClaudeSDKError as exc:
            detail = f"Claude Code failed: {exc}"
            if self.continuing:  # the earlier conversation would not load: do not retry it
                detail += " (the earlier conversation could not be continued; the next starts anew)"
                await self.start_new()
            await self.send({"type": "error", "detail": detail})
            await self._drop_client()
        finally:
            self.live.turn_ended()

    async def _client(self) -> ClaudeSDKClient:
        if self.continuing and self.session_id is None:
            found = await asyncio.to_thread(latest_session, self.cwd)
            self.session_id = found.session_id if found else None
        env = self.credentials.environment()
        if self.client is not None and env != self.client_env:
            await self._drop_client()  # the credential changed: a fresh Claude Code picks it up
        if self.client is None:
            options = ClaudeAgentOptions(
                cwd=str(self.cwd),
                cli_path=shutil.which(self.claude_path) or self.claude_path,
                permission_mode=self.permission_mode,
                env=env,
                resume=self.session_id,
            )
            self.client_env = env
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
