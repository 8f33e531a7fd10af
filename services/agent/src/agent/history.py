"""The previous conversation of a working folder, for the chat tab: the session the chat continues
(:func:`agent.transcripts.latest_session`), its messages read by the Agent SDK's own transcript
reader, each tool call summarized in a line (``Bash: npm test``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from claudecloud_agentapi import ChatHistory, HistoryMessage

from .transcripts import latest_session, prompt_text

SUMMARY_CHARS = 200
_SUMMARY_KEYS = ("command", "file_path", "path", "pattern", "url", "query", "description")


async def read_history(cwd: Path, relative: str, limit: int) -> ChatHistory:
    """The latest ``limit`` messages of ``cwd``'s newest conversation (none: an empty history)."""
    found = await asyncio.to_thread(latest_session, cwd)
    if found is None:
        return ChatHistory(cwd=relative)
    messages = await asyncio.to_thread(_messages, found.session_id, cwd)
    return ChatHistory(
        cwd=relative,
        session_id=found.session_id,
        updated_at=found.updated_at,
        messages=messages[-limit:],
        truncated=len(messages) > limit,
    )


def _messages(session_id: str, cwd: Path) -> list[HistoryMessage]:
    # Imported here, in a worker thread: the SDK takes seconds to import.
    from claude_agent_sdk import get_session_messages

    found: list[HistoryMessage] = []
    tools: dict[str, int] = {}
    for message in get_session_messages(session_id, directory=str(cwd)):
        content = (message.message or {}).get("content")
        if message.type == "user":
            _user(found, tools, content)
        else:
            _assistant(found, tools, content)
    return found


def _user(found: list[HistoryMessage], tools: dict[str, int], content: Any) -> None:
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "tool_result" and block.get("is_error"):
            index = tools.get(str(block.get("tool_use_id")))
            if index is not None:
                found[index] = found[index].model_copy(update={"is_error": True})
    text = prompt_text(content)
    if text:
        found.append(HistoryMessage(role="user", text=text))


def _assistant(found: list[HistoryMessage], tools: dict[str, int], content: Any) -> None:
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and str(block.get("text", "")).strip():
            text = str(block["text"])
            last = found[-1] if found else None
            if last is not None and last.role == "assistant":  # one reply's blocks: paragraphs
                found[-1] = last.model_copy(update={"text": f"{last.text}\n\n{text}"})
            else:
                found.append(HistoryMessage(role="assistant", text=text))
        elif block.get("type") == "tool_use":
            name = str(block.get("name") or "tool")
            tools[str(block.get("id"))] = len(found)
            found.append(
                HistoryMessage(role="tool", tool=name, text=summary(name, block.get("input")))
            )


def summary(name: str, given: Any) -> str:
    """A tool call in one line: its name and what it acted on."""
    detail = ""
    if isinstance(given, dict):
        detail = next((str(given[k]) for k in _SUMMARY_KEYS if isinstance(given.get(k), str)), "")
        detail = detail or (json.dumps(given, ensure_ascii=False) if given else "")
    line = " ".join(f"{name}: {detail}".split()) if detail else name
    return line if len(line) <= SUMMARY_CHARS else line[: SUMMARY_CHARS - 1] + "…"
