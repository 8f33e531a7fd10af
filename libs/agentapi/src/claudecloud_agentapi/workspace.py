"""``GET /healthz``, ``GET /files``, ``GET /files/read``, ``GET /projects`` and
``POST /projects/clone``: the user's files and git projects in the data folder. Every path is
relative to the data folder."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["CloneRequest", "Entry", "EntryKind", "FileText", "Health", "Listing", "Project"]

EntryKind = Literal["file", "folder", "symlink", "other"]


class Health(BaseModel):
    status: str
    uptime_seconds: float


class Entry(BaseModel):
    name: str
    path: str
    """Relative to the data folder."""
    kind: EntryKind
    size: int
    modified: datetime


class Listing(BaseModel):
    path: str
    entries: list[Entry]
    truncated: bool
    """More entries exist than were listed."""


class FileText(BaseModel):
    path: str
    size: int
    """The file's whole size in bytes."""
    content: str
    truncated: bool
    """Only the first ``limit`` bytes are in ``content``."""
    limit: int


class Project(BaseModel):
    name: str
    path: str
    """Relative to the data folder."""
    remote: str | None
    """``origin``'s URL (any password in it left out), or None for a local repository."""
    branch: str | None


class CloneRequest(BaseModel):
    url: str = Field(min_length=1, max_length=2048)
    name: str | None = Field(default=None, max_length=100)
    """The folder to clone into (in the data folder); by default the repository's name."""
