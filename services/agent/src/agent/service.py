"""What the instance is doing, read from tmux and ``/proc`` (the instance's own truth)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from claudecloud_agentapi import ActivityReport, ProcessInfo

from .spend import ClaudeSpend

PROC = Path("/proc")
MEMORY_EVENTS = Path("/sys/fs/cgroup/memory.events")


@dataclass
class LiveCounts:
    """What the agent itself is serving right now."""

    terminals: int = 0
    chat_turns: int = 0
    boot_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Changes when the agent restarts, so counters below can be read as "since the last look"."""
    inputs: int = 0
    turns_started: int = 0
    turns_ended: int = 0
    last_input: float | None = None
    last_turn_ended: float | None = None

    def input_seen(self) -> None:
        """A person typed into a terminal (resizes and attaching are not input)."""
        self.inputs += 1
        self.last_input = time.monotonic()

    def turn_started(self) -> None:
        self.chat_turns += 1
        self.turns_started += 1

    def turn_ended(self) -> None:
        self.chat_turns -= 1
        self.turns_ended += 1
        self.last_turn_ended = time.monotonic()


@dataclass(frozen=True)
class ActivityService:
    tmux_session: str
    own_commands: frozenset[str]
    live: LiveCounts
    spend: ClaudeSpend | None = None

    async def report(self) -> ActivityReport:
        exists, clients, typed_at = await self._tmux()
        user = [p for p in read_processes() if not self._is_own(p)]
        spend = await asyncio.to_thread(self.spend.days) if self.spend else []
        return ActivityReport(
            tmux_session=exists,
            tmux_clients=clients,
            tmux_input_at=typed_at,
            processes=len(user),
            busy=user,
            terminals=self.live.terminals,
            chat_turns=self.live.chat_turns,
            boot_id=self.live.boot_id,
            inputs=self.live.inputs,
            seconds_since_input=_since(self.live.last_input),
            turns_started=self.live.turns_started,
            turns_ended=self.live.turns_ended,
            seconds_since_turn_ended=_since(self.live.last_turn_ended),
            oom_kills=read_oom_kills(),
            claude_spend=spend,
        )

    async def _tmux(self) -> tuple[bool, int, float | None]:
        # tmux moves a client's activity time on keys (and mouse) only, never on attaching or
        # resizing: a client whose activity is past its creation has typed.
        fields = "#{client_created} #{client_activity}"
        code, out = await _run("tmux", "list-clients", "-t", self.tmux_session, "-F", fields)
        if code != 0:
            return False, 0, None
        clients = [line.split() for line in out.splitlines() if line.strip()]
        times = [
            (int(c[0]), int(c[1])) for c in clients if len(c) == 2 and all(map(str.isdigit, c))
        ]
        typed = [float(active) for created, active in times if active > created]
        return True, len(clients), max(typed, default=None)

    def _is_own(self, process: ProcessInfo) -> bool:
        return (
            process.pid in (1, os.getpid())
            or process.ppid == os.getpid()
            or process.command in self.own_commands
        )


def _since(moment: float | None) -> float | None:
    return None if moment is None else round(time.monotonic() - moment, 3)


def read_oom_kills() -> int | None:
    """The ``oom_kill`` count of this instance's memory cgroup, or None where there is none."""
    try:
        for line in MEMORY_EVENTS.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        return None
    return None


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
