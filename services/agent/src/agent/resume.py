"""``python -m agent.resume``: the shell pane's first screen after a wake from a stop.

The shell pane (``shell-pane.sh``) runs this once when it starts. If the checkpoint taken before
the last stop (``~/.claudecloud/checkpoint/checkpoint.json``, :mod:`agent.checkpoint`) has not been
shown yet, it prints a line saying when it was saved and why the workstation stopped, the last
lines of the shell's saved scrollback, and where the user left off: the WIP branches saved (each
repository, its branch, the files changed) and Claude's last prompt. It is shown once per
checkpoint, so once per stop: a pane or a session started again later shows nothing.

It reads files only and imports nothing heavier than the agent's API (pydantic), so the pane's
prompt is not kept waiting.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from claudecloud_agentapi import Checkpoint, RepoCheckpoint, RepoOutcome

from .volume import FOLDER, write_private

LINES = 15
"""Lines of the saved shell scrollback shown again."""
PROMPT_CHARS = 160
REASONS = {
    "user": "you paused it",
    "idle": "idle",
    "billing": "billing",
    "budget": "its budget was spent",
    "host_memory": "the host needed memory",
}
BOLD, DIM, PLAIN = "\033[1m", "\033[2m", "\033[0m"


def render(checkpoint: Checkpoint, scrollback: str, lines: int = LINES) -> str:
    """The first screen: when and why, the scrollback's last ``lines``, where the user left off."""
    why = REASONS.get(checkpoint.reason, checkpoint.reason)
    saved = f"{checkpoint.taken_at:%Y-%m-%d %H:%M} UTC"
    shown = [f"{BOLD}── Saved {saved}, then stopped ({why}) ──{PLAIN}"]
    tail = scrollback.rstrip("\n").splitlines()[-lines:]
    if tail:
        shown += [*tail, f"{DIM}(all of it: ~/{FOLDER}/scrollback-shell.txt){PLAIN}"]
    return "\n".join([*shown, *where_you_left_off(checkpoint)]) + "\n"


def where_you_left_off(checkpoint: Checkpoint) -> list[str]:
    """The WIP branches saved (repository, branch, files changed), what was not, the prompt."""
    said = [f"{BOLD}── Where you left off ──{PLAIN}"]
    saved = [r for r in checkpoint.repositories if r.outcome == RepoOutcome.SAVED]
    if saved:
        said.append("Work in progress saved (your branches untouched):")
        said += [_saved(r) for r in saved]
    unsaved = [r for r in checkpoint.repositories if r.outcome in _UNSAVED]
    said += [f" {r.path}: not saved ({r.note or r.outcome.value})" for r in unsaved]
    if not saved and not unsaved:
        said.append("No uncommitted changes to save.")
    if checkpoint.last_prompt:
        prompt = " ".join(checkpoint.last_prompt.split())
        cut = prompt if len(prompt) <= PROMPT_CHARS else prompt[: PROMPT_CHARS - 1] + "…"
        said.append(f'Last prompt to Claude: "{cut}"')
    return said


_UNSAVED = (RepoOutcome.FAILED, RepoOutcome.NOT_REACHED)


def _saved(repo: RepoCheckpoint) -> str:
    where = repo.branch or (f"detached at {repo.head[:7]}" if repo.head else "no commits yet")
    files = f"{repo.files_changed} file{'s' if repo.files_changed != 1 else ''}"
    left = f", {len(repo.left_out)} too large left out" if repo.left_out else ""
    return f" {repo.path} ({where}): {files}{left} on {repo.ref}"


def show_once(root: Path) -> str | None:
    """The first screen of the last checkpoint if it was not shown yet (then it counts as
    shown), else None."""
    folder = root / FOLDER
    try:
        checkpoint = Checkpoint.model_validate_json((folder / "checkpoint.json").read_bytes())
    except (OSError, ValueError):
        return None
    marker = folder / "shown"
    with contextlib.suppress(OSError):
        if marker.read_text().strip() == checkpoint.taken_at.isoformat():
            return None
    try:
        write_private(marker, checkpoint.taken_at.isoformat() + "\n")
    except OSError:
        return None  # shown on every start is worse than not shown
    with contextlib.suppress(OSError):
        return render(checkpoint, (folder / "scrollback-shell.txt").read_text(errors="replace"))
    return render(checkpoint, "")


def main() -> int:
    screen = show_once(Path(os.environ.get("HOME") or "/claude-data"))
    if screen:
        sys.stdout.write(screen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
