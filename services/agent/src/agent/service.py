"""What the instance is doing, read from tmux and ``/proc`` (the instance's own truth)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

PROC = Path("/proc")


class ProcessInfo(BaseModel):
    pid: int
    ppid: int
    command: str


@dataclass
class LiveCounts:
    """What the agent itself is serving right now."""

    terminals: int = 0
    chat_turns: int = 0


class ActivityReport(BaseModel):
    tmux_session: bool
    """Whether the ``claude`` tmux session exists."""
    tmux_clients: int
    """Terminals attached to it right now."""
    processes: int
    """Processes of the user's (the instance's own machinery left out)."""
    busy: list[ProcessInfo]
    terminals: int = 0
    """Terminal WebSockets open on this agent."""
    chat_turns: int = 0
    """Chat turns running right now."""


@dataclass(frozen=True)
class ActivityService:
    tmux_session: str
    own_commands: frozenset[str]
    live: LiveCounts

    async def report(self) -> ActivityReport:
        exists, clients = await self._tmux()
        user = [p for p in read_processes() if not self._is_own(p)]
        return ActivityReport(
            tmux_session=exists,
            tmux_clients=clients,
            processes=len(user),
            busy=user,
            terminals=self.live.terminals,
            chat_turns=self.live.chat_turns,
        )

    async def _tmux(self) -> tuple[bool, int]:
        code, out = await _run("tmux", "list-clients", "-t", self.tmux_session, "-F", "x")
        if code != 0:
            return False, 0
        return True, len(out.splitlines())

    def _is_own(self, process: ProcessInfo) -> bool:
        return (
            process.pid in (1, os.getpid())
            or process.ppid == os.getpid()
            or process.command in self.own_commands
        )


def read_processes() -> list[ProcessInfo]:
    """Every process this user can see, from ``/proc/<pid>/stat``."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            info = _read_stat(entry / "stat")
            if info is not None:
                found.append(info)
    return sorted(found, key=lambda p: p.pid)


def _read_stat(path: Path) -> ProcessInfo | None:
    try:
        raw = path.read_text()
    except OSError:  # the process ended while we looked
        return None
    # pid (comm) state ppid ...; comm may itself contain spaces and parentheses.
    head, _, tail = raw.rpartition(")")
    pid, _, command = head.partition(" (")
    return ProcessInfo(pid=int(pid), ppid=int(tail.split()[1]), command=command)


async def _run(*argv: str) -> tuple[int, str]:
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
    except FileNotFoundError:
        return 127, ""
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode(errors="replace")
