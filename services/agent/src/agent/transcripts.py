"""Claude Code's own record of its conversations, read where Claude keeps it.

Each conversation (session) is one JSONL transcript,
``<config>/projects/<cwd, every non-alphanumeric as '-'>/<session id>.jsonl``, where ``<config>``
is ``CLAUDE_CONFIG_DIR`` or ``~/.claude`` (on the volume: HOME is ``/claude-data``). Claude's
``--continue`` takes the newest of a folder's sessions; so do the chat and the checkpoint.

Finding sessions and their last prompt reads only the head and tail of a file, and never imports
the Agent SDK (two seconds of start-up a checkpoint cannot spend). A conversation's messages are
read with the SDK's own reader (:func:`claude_agent_sdk.get_session_messages`), which follows
Claude's format: branches, compaction, tool results of parallel calls.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from claudecloud_agentapi import SessionCheckpoint

READ_BYTES = 64 * 1024
"""How much of a transcript's head and tail is read to describe it."""
MAX_SANITIZED = 200
"""Longer folder names Claude cuts and ends with a hash (see :func:`project_folder`)."""
PROMPT_CHARS = 500
_NON_ALNUM = re.compile(r"[^a-zA-Z0-9]")
_SESSION_FILE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.jsonl$")
_NOT_A_PROMPT = ("<command-", "<local-command-", "<session-start-hook>", "[Request interrupted")


def claude_home() -> Path:
    """Claude Code's configuration folder: ``CLAUDE_CONFIG_DIR``, or ``~/.claude``."""
    configured = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(configured) if configured else Path.home() / ".claude"


@dataclass(frozen=True)
class SessionFile:
    path: Path
    session_id: str
    cwd: str
    updated_at: datetime
    last_prompt: str


def project_folder(cwd: Path, home: Path | None = None) -> Path | None:
    """The folder of ``cwd``'s transcripts, if there is one. A name Claude cut (a path over 200
    characters) ends with a hash of Claude's runtime; it is found by its first 200."""
    projects = (home or claude_home()) / "projects"
    name = _NON_ALNUM.sub("-", str(cwd))
    if len(name) <= MAX_SANITIZED:
        return projects / name if (projects / name).is_dir() else None
    with contextlib.suppress(OSError):
        for entry in projects.iterdir():
            if entry.name.startswith(name[:MAX_SANITIZED] + "-") and entry.is_dir():
                return entry
    return None


def latest_session(cwd: Path, home: Path | None = None) -> SessionFile | None:
    """The conversation Claude would continue in ``cwd``: its newest session with a prompt."""
    folder = project_folder(cwd, home)
    return None if folder is None else next(_sessions_in(folder), None)


def recent_sessions(limit: int, home: Path | None = None) -> list[SessionCheckpoint]:
    """The newest session of each folder Claude worked in, newest first."""
    found = []
    with contextlib.suppress(OSError):
        for folder in (home or claude_home()).joinpath("projects").iterdir():
            newest = next(_sessions_in(folder), None) if folder.is_dir() else None
            if newest is not None:
                found.append(newest)
    found.sort(key=lambda s: s.updated_at, reverse=True)
    return [
        SessionCheckpoint(
            project=s.cwd,
            session_id=s.session_id,
            last_prompt=s.last_prompt,
            updated_at=s.updated_at,
        )
        for s in found[:limit]
    ]


def keep_transcripts(days: int, home: Path | None = None) -> bool:
    """Set Claude's ``cleanupPeriodDays`` to ``days`` where the user has not set it, so Claude
    does not delete the transcripts a wake resumes from (after 30 days by default). Returns
    whether the setting is in place; a settings file that is not JSON is left alone."""
    path = (home or claude_home()) / "settings.json"
    try:
        settings = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        return False
    if not isinstance(settings, dict):
        return False
    if "cleanupPeriodDays" in settings:
        return True
    settings["cleanupPeriodDays"] = days
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.claudecloud")
    partial.write_text(json.dumps(settings, indent=2) + "\n")
    partial.replace(path)
    return True


def _sessions_in(folder: Path) -> Iterator[SessionFile]:
    """The sessions of one folder, newest first; files without a prompt (Claude opened and left,
    a subagent's sidechain) are passed over."""
    files = []
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            if _SESSION_FILE.match(entry.name):
                with contextlib.suppress(OSError):
                    files.append((entry.stat().st_mtime, entry))
    for mtime, path in sorted(files, reverse=True):
        described = _describe(path, mtime)
        if described is not None:
            yield described


def _describe(path: Path, mtime: float) -> SessionFile | None:
    try:
        head, tail = _head_and_tail(path)
    except OSError:
        return None
    first = next(_entries(head), {})
    if first.get("isSidechain"):
        return None
    prompt = _last_prompt(list(_entries(tail))[::-1]) or _last_prompt(list(_entries(head)))
    if prompt is None:
        return None
    cwd = next((e["cwd"] for e in _entries(head) if isinstance(e.get("cwd"), str)), "")
    return SessionFile(
        path=path,
        session_id=path.stem,
        cwd=cwd or path.parent.name,
        updated_at=datetime.fromtimestamp(mtime, UTC),
        last_prompt=prompt,
    )


def _head_and_tail(path: Path) -> tuple[str, str]:
    with path.open("rb") as handle:
        head = handle.read(READ_BYTES)
        size = handle.seek(0, os.SEEK_END)
        if size <= READ_BYTES:
            return head.decode(errors="replace"), head.decode(errors="replace")
        handle.seek(size - READ_BYTES)
        tail = handle.read(READ_BYTES).split(b"\n", 1)[-1]  # the first line is cut
    return head.decode(errors="replace"), tail.decode(errors="replace")


def _entries(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict):
                yield entry


def _last_prompt(entries: list[dict[str, Any]]) -> str | None:
    """The first prompt in ``entries``: Claude's own ``lastPrompt`` record, or a person's
    message (not a tool's result, a slash command or Claude's own meta message)."""
    for entry in entries:
        if isinstance(entry.get("lastPrompt"), str) and entry["lastPrompt"].strip():
            return str(entry["lastPrompt"]).strip()[:PROMPT_CHARS]
        if entry.get("type") != "user" or entry.get("isMeta") or entry.get("isCompactSummary"):
            continue
        text = prompt_text(entry.get("message", {}).get("content"))
        if text:
            return text[:PROMPT_CHARS]
    return None


def prompt_text(content: Any) -> str | None:
    """What a person typed, from a user message's content (None for tool results, commands)."""
    if isinstance(content, list):
        texts = [b.get("text") for b in content if isinstance(b, dict) and b.get("type") == "text"]
        content = "\n".join(t for t in texts if isinstance(t, str))
    if not isinstance(content, str):
        return None
    text = content.strip()
    return None if not text or text.startswith(_NOT_A_PROMPT) else text
