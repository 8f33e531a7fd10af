"""``POST /checkpoint``: what the agent saves before its instance stops, so a wake finds the user's
work where they left it. ``GET /chat/history``: the previous conversation of a working folder, as
Claude's own transcript files keep it.

A checkpoint never changes the user's work: each git repository with changes gets one commit on a
branch of its own (``claudecloud/wip/<UTC time>``) made from a temporary index, leaving HEAD, the
index, the working tree, stashes and the user's branches as they were. It is bounded by its
deadline: what it did not reach by then is said (``not_reached``, ``complete=False``), never
waited for.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChatHistory",
    "Checkpoint",
    "CheckpointRequest",
    "HistoryMessage",
    "RepoCheckpoint",
    "RepoOutcome",
    "SessionCheckpoint",
]


class RepoOutcome(StrEnum):
    SAVED = "saved"
    """A WIP commit holds the repository's changes (``ref``, ``commit``)."""
    CLEAN = "clean"
    """Nothing to save: the working tree and the index are HEAD's (``left_out`` may still list
    files over the size limit, which were not saved)."""
    FAILED = "failed"
    """git refused; ``note`` says why. The repository itself was not changed."""
    NOT_REACHED = "not_reached"
    """The deadline came first."""


class RepoCheckpoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    """Relative to /claude-data."""
    outcome: RepoOutcome
    branch: str | None = None
    """The user's current branch; None: detached HEAD or no commits yet."""
    head: str | None = None
    """HEAD's commit; None: no commits yet."""
    ref: str | None = None
    """The WIP branch, e.g. ``claudecloud/wip/20261207T174301Z`` (under ``refs/heads``)."""
    commit: str | None = None
    """The WIP commit."""
    files_changed: int = 0
    """Files that differ between HEAD and the WIP commit."""
    left_out: list[str] = []
    """Files over the size limit, not saved."""
    note: str | None = None
    """What was special: ``mid-merge: ...``, ``detached HEAD at abc1234``, ``no commits yet: a
    root commit``, or the error."""


class SessionCheckpoint(BaseModel):
    """Claude's latest conversation in one working folder."""

    model_config = ConfigDict(frozen=True)

    project: str
    """Its working directory."""
    session_id: str
    last_prompt: str | None = None
    updated_at: datetime | None = None


class CheckpointRequest(BaseModel):
    reason: str = "user"
    """Who stops the instance: ``user``, ``idle``, ``billing``, ``budget``, ``host_memory``, ..."""
    deadline_seconds: float = Field(default=5.0, gt=0, le=60)
    """The answer comes within this, whatever was reached."""


class Checkpoint(BaseModel):
    taken_at: datetime
    reason: str
    seconds: float
    """How long it took."""
    repositories: list[RepoCheckpoint] = []
    scrollback: dict[str, int] = {}
    """Pane (``claude``, ``shell``) -> lines saved."""
    sessions: list[SessionCheckpoint] = []
    """Newest first."""
    last_prompt: str | None = None
    """The newest prompt across projects."""
    complete: bool = True
    """False: the deadline cut it short (what was not reached says so)."""
    errors: list[str] = []


class HistoryMessage(BaseModel):
    """One message of a previous conversation: what the person asked, what Claude answered, and
    each tool Claude used, summarized (``Bash: npm test``)."""

    role: Literal["user", "assistant", "tool"]
    text: str
    tool: str | None = None
    """The tool's name, for ``role="tool"``."""
    is_error: bool = False
    """The tool failed."""


class ChatHistory(BaseModel):
    cwd: str
    """Relative to /claude-data."""
    session_id: str | None = None
    """The conversation the chat continues; None: there is none yet."""
    updated_at: datetime | None = None
    messages: list[HistoryMessage] = []
    truncated: bool = False
    """Earlier messages were left out (only the latest are sent)."""
