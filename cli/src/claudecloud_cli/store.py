"""Where the session token is kept: one file, readable by its owner only."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TokenStore:
    folder: Path

    @classmethod
    def default(cls) -> TokenStore:
        """``$CLAUDE_CLOUD_HOME``, else ``~/.claude-cloud`` (``HOME`` is honoured)."""
        override = os.environ.get("CLAUDE_CLOUD_HOME")
        return cls(Path(override) if override else Path.home() / ".claude-cloud")

    @property
    def path(self) -> Path:
        return self.folder / "token"

    def read(self) -> str | None:
        try:
            token = self.path.read_text().strip()
        except FileNotFoundError:
            return None
        return token or None

    def write(self, token: str) -> None:
        """Replace the token atomically; the file is created 0600 (never readable by others,
        not even for a moment)."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
        os.chmod(partial, 0o600)
        os.replace(partial, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
