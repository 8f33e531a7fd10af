"""The user's files, seen through one rule: every path stays inside the data folder.

A path is resolved the way the kernel would follow it (``..``, symlinks at any depth) before it is
checked, so ``../../etc/passwd``, ``/etc/passwd`` and a symlink pointing out of the folder are all
refused alike. Absolute paths are accepted only when they resolve inside the folder.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from claudecloud_agentapi import Entry, EntryKind, FileText, Listing

from .errors import BadPath, NotAFile, NotAFolder, NotText, OutsideData, PathNotFound

MAX_PATH_LENGTH = 4096


@dataclass(frozen=True)
class DataFolder:
    """The data folder and the one way into it, :meth:`resolve`."""

    root: Path

    @classmethod
    def at(cls, root: Path) -> DataFolder:
        return cls(root.resolve(strict=True))

    def resolve(self, path: str) -> Path:
        """``path`` (relative to the folder, or absolute) followed to what it really names."""
        if "\x00" in path or len(path) > MAX_PATH_LENGTH:
            raise BadPath("not a usable path")
        candidate = Path(path) if path.startswith("/") else self.root / path
        try:
            resolved = candidate.resolve(strict=True)
        except FileNotFoundError:
            resolved = candidate.resolve(strict=False)
            self._confine(resolved, path)
            raise PathNotFound(f"{path!r} does not exist") from None
        except (OSError, RuntimeError) as exc:  # a symlink loop, a permission problem
            raise BadPath(f"{path!r} cannot be resolved: {exc}") from None
        self._confine(resolved, path)
        return resolved

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.root)) if path != self.root else "."

    def _confine(self, resolved: Path, given: str) -> None:
        if resolved != self.root and self.root not in resolved.parents:
            raise OutsideData(f"{given!r} is outside the data folder")


@dataclass(frozen=True)
class FileService:
    folder: DataFolder
    list_limit: int
    read_limit: int

    def list(self, path: str) -> Listing:
        """The entries of a folder, folders first, then by name; symlinks are not followed."""
        target = self.folder.resolve(path or ".")
        if not target.is_dir():
            raise NotAFolder(f"{path!r} is not a folder")
        children = sorted(target.iterdir(), key=lambda p: p.name)
        entries = [e for e in (self._entry(child) for child in children) if e is not None]
        entries.sort(key=lambda e: (e.kind != "folder", e.name))
        return Listing(
            path=self.folder.relative(target),
            entries=entries[: self.list_limit],
            truncated=len(entries) > self.list_limit,
        )

    def read(self, path: str) -> FileText:
        """A text file's first ``read_limit`` bytes, decoded as UTF-8."""
        target = self.folder.resolve(path)
        if not target.is_file():
            raise NotAFile(f"{path!r} is not a regular file")
        with target.open("rb") as handle:
            size = target.stat().st_size
            head = handle.read(self.read_limit + 1)
        if b"\x00" in head[:8192]:
            raise NotText(f"{path!r} is not a text file")
        truncated = len(head) > self.read_limit
        content = head[: self.read_limit].decode("utf-8", errors="replace")
        return FileText(
            path=self.folder.relative(target),
            size=max(size, len(head)),
            content=content,
            truncated=truncated,
            limit=self.read_limit,
        )

    def _entry(self, child: Path) -> Entry | None:
        try:
            info = child.lstat()
        except OSError:
            return None  # removed while we looked
        return Entry(
            name=child.name,
            path=self.folder.relative(child),
            kind=_kind(info.st_mode),
            size=info.st_size,
            modified=datetime.fromtimestamp(info.st_mtime, UTC),
        )


def _kind(mode: int) -> EntryKind:
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"
