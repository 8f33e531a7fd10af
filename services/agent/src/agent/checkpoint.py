"""The checkpoint before a stop: what a wake needs to put the user back where they left off.

Within the caller's deadline, and each part on its own so one that fails or is slow costs only
itself: a WIP commit in every git repository with changes (:mod:`agent.snapshot`), the scrollback
of the session's two panes, and Claude's latest session in each folder it worked in
(:mod:`agent.transcripts`). All of it is written to the volume, readable by the user alone
(``~/.claudecloud/checkpoint/``): the scrollback as text, the answer as ``checkpoint.json``, which
the shell pane reads after the wake (:mod:`agent.resume`).

The answer comes before the deadline, whatever was reached: a repository still being saved then
is ``not_reached`` (its git processes killed; it gets no WIP branch) and ``complete`` is false.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from claudecloud_agentapi import (
    Checkpoint,
    CheckpointRequest,
    RepoCheckpoint,
    RepoOutcome,
    SessionCheckpoint,
)

from .projects import find_repositories
from .settings import AgentSettings
from .snapshot import Snapshot
from .terminal import tmux_env
from .transcripts import claude_home, keep_transcripts, recent_sessions
from .volume import FOLDER, private_folder, write_private

PANE_SCRIPTS = {"claude": "claude-pane.sh", "shell": "shell-pane.sh"}
SESSIONS_KEPT = 50
T = TypeVar("T")


@dataclass(frozen=True)
class CheckpointService:
    root: Path
    settings: AgentSettings
    lock: asyncio.Lock
    """One checkpoint at a time: a second one asked meanwhile (a caller's retry) answers at once
    that the first is still running, and saves nothing of its own."""

    async def take(self, request: CheckpointRequest) -> Checkpoint:
        """Save what can be saved before ``request.deadline_seconds``, and say what was not."""
        started = time.monotonic()
        # What is left after the work is for writing the files and the answer.
        deadline = started + request.deadline_seconds - min(0.5, request.deadline_seconds / 10)
        taken_at = datetime.now(UTC)
        if self.lock.locked():
            return Checkpoint(
                taken_at=taken_at, reason=request.reason, seconds=_since(started),
                complete=False, errors=["another checkpoint was still running"],
            )  # fmt: skip
        async with self.lock:  # free, so taken without waiting
            return await self._take(request, taken_at, started, deadline)

    async def _take(
        self, request: CheckpointRequest, taken_at: datetime, started: float, deadline: float
    ) -> Checkpoint:
        snapshot = Snapshot(
            root=self.root,
            stamp=taken_at.strftime("%Y%m%dT%H%M%SZ"),
            reason=request.reason,
            max_file_bytes=self.settings.checkpoint_max_file_bytes,
            keep=self.settings.checkpoint_keep,
        )
        panes = asyncio.create_task(self._scrollback())
        sessions = asyncio.create_task(asyncio.to_thread(self._sessions))
        repositories, errors = await self._repositories(snapshot, deadline)
        saved = await _within(panes, deadline)
        found = await _within(sessions, deadline)
        errors += [f"the {part} was not reached" for part, got in
                   (("scrollback", saved), ("sessions", found)) if got is None]  # fmt: skip
        checkpoint = Checkpoint(
            taken_at=taken_at,
            reason=request.reason,
            seconds=0.0,
            repositories=repositories,
            scrollback={pane: _count(text) for pane, text in (saved or {}).items()},
            sessions=found or [],
            last_prompt=next((s.last_prompt for s in found or [] if s.last_prompt), None),
            complete=not errors and all(r.outcome != RepoOutcome.NOT_REACHED for r in repositories),
            errors=errors,
        )
        return await asyncio.to_thread(self._store, checkpoint, saved or {}, started)

    async def _repositories(
        self, snapshot: Snapshot, deadline: float
    ) -> tuple[list[RepoCheckpoint], list[str]]:
        found = await _within(asyncio.to_thread(find_repositories, self.root), deadline)
        if found is None:
            return [], ["the repositories were not all found before the deadline"]
        gate = asyncio.Semaphore(self.settings.checkpoint_concurrency)

        async def one(repo: Path) -> RepoCheckpoint:
            async with gate:
                return await snapshot.take(repo)

        tasks = [asyncio.create_task(one(repo)) for repo in found]
        if tasks:
            await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic()))
        for task in tasks:
            task.cancel()  # those still running: their git processes are killed
        await asyncio.gather(*tasks, return_exceptions=True)
        return [
            _outcome(task, repo, self.root) for task, repo in zip(tasks, found, strict=True)
        ], []

    async def _scrollback(self) -> dict[str, str]:
        """Each pane's last lines, wrapped lines joined, found by the script the pane runs."""
        session = self.settings.tmux_session
        fields = "#{pane_id} #{pane_start_command}"
        code, listed = await _tmux("list-panes", "-s", "-t", f"={session}", "-F", fields)
        panes: dict[str, str] = {}
        for line in listed.splitlines() if code == 0 else []:
            pane_id, _, command = line.partition(" ")
            name = next((n for n, script in PANE_SCRIPTS.items() if script in command), None)
            if name is None or name in panes:
                continue
            lines = f"-{self.settings.checkpoint_scrollback_lines}"
            code, text = await _tmux("capture-pane", "-p", "-J", "-S", lines, "-t", pane_id)
            if code == 0:
                panes[name] = text.rstrip("\n") + "\n" if text.strip() else ""
        return panes

    def _sessions(self) -> list[SessionCheckpoint]:
        home = claude_home()
        keep_transcripts(self.settings.claude_transcript_days, home)
        return recent_sessions(SESSIONS_KEPT, home)

    def _store(self, checkpoint: Checkpoint, panes: dict[str, str], started: float) -> Checkpoint:
        folder = self.root / FOLDER
        errors = list(checkpoint.errors)
        try:
            private_folder(folder)
            for pane in PANE_SCRIPTS:
                target = folder / f"scrollback-{pane}.txt"
                if pane in panes:
                    write_private(target, panes[pane])
                else:  # an older pane's text must not pass for this stop's
                    target.unlink(missing_ok=True)
        except OSError as exc:
            errors.append(f"the scrollback could not be written: {exc}")
        final = checkpoint.model_copy(update={"seconds": _since(started), "errors": errors})
        try:
            write_private(folder / "checkpoint.json", final.model_dump_json(indent=2))
        except OSError as exc:
            final = final.model_copy(update={"errors": [*errors, f"not written: {exc}"]})
        return final


def _outcome(task: asyncio.Task[RepoCheckpoint], repo: Path, root: Path) -> RepoCheckpoint:
    path = str(repo.relative_to(root))
    if task.cancelled():
        return RepoCheckpoint(
            path=path, outcome=RepoOutcome.NOT_REACHED, note="the deadline came first"
        )
    error = task.exception()
    if error is not None:  # a bug of ours, not git's: this repository only
        return RepoCheckpoint(path=path, outcome=RepoOutcome.FAILED, note=repr(error)[:500])
    return task.result()


async def _within(work: Awaitable[T], deadline: float) -> T | None:
    """``work``'s result, or None (and ``work`` cancelled) when ``deadline`` comes first."""
    try:
        return await asyncio.wait_for(work, max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        return None


async def _tmux(*args: str) -> tuple[int, str]:
    with contextlib.suppress(OSError):
        process = await asyncio.create_subprocess_exec(
            "tmux", *args, env=tmux_env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        out, _ = await process.communicate()
        return process.returncode or 0, out.decode(errors="replace")
    return 127, ""


def _count(text: str) -> int:
    return len(text.splitlines())


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)
