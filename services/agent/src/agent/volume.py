"""Where the checkpoint lives on the volume, and how it is written there: for the user alone
(folders 0700, files 0600), each file replaced whole so a reader never sees half of one.

Imports nothing but the standard library: the shell pane reads the checkpoint through
:mod:`agent.resume` at its start, and should not wait for it.
"""

from __future__ import annotations

import os
from pathlib import Path

FOLDER = Path(".claudecloud") / "checkpoint"
"""Under the data folder: ``checkpoint.json``, ``scrollback-<pane>.txt``, and ``shown`` (which
checkpoint the shell pane has shown)."""


def private_folder(folder: Path) -> None:
    """``folder`` (made if missing) and its parent, readable by the user alone."""
    folder.mkdir(parents=True, exist_ok=True)
    for each in (folder, folder.parent):
        os.chmod(each, 0o700)


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` at once, mode 0600."""
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.replace(partial, path)
