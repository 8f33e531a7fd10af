"""Keeps a started platform running: a process that exits is restarted with backoff, and logged."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from .processes import describe_exit
from .stack import Stack

FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 30.0
HEALTHY_RUN_SECONDS = 30.0
"""A process that has run this long after a restart starts again from the first delay."""


def say(line: str) -> None:
    print(f"claudecloud: {line}", file=sys.stderr, flush=True)


@dataclass
class _Watch:
    delay: float = FIRST_DELAY_SECONDS
    restart_at: float | None = None
    started_at: float = 0.0
    answered: bool = True


class Supervisor:
    """Restarts what exits: after 1 s, then twice as long each time (up to 30 s), back to 1 s
    once a process has run for 30 s. What every restart is for is written to the log."""

    def __init__(self, stack: Stack, log: Callable[[str], None] = say) -> None:
        self.stack = stack
        self.log = log
        self.watches: dict[str, _Watch] = {}
        self.health = {spec.name: spec.health_url for spec in stack.config.services}

    def tick(self, now: float) -> None:
        for name, child in list(self.stack.children.items()):
            watch = self.watches.setdefault(name, _Watch(started_at=now))
            if child.returncode is None:
                self._running(name, watch, now)
            elif watch.restart_at is None:
                self._exited(name, watch, now)
            elif now >= watch.restart_at:
                self._restart(name, watch, now)

    def _running(self, name: str, watch: _Watch, now: float) -> None:
        if not watch.answered and name in self.health and _answers(self.health[name]):
            watch.answered = True
            self.log(f"{name} answers again")
        if now - watch.started_at >= HEALTHY_RUN_SECONDS:
            watch.delay = FIRST_DELAY_SECONDS

    def _exited(self, name: str, watch: _Watch, now: float) -> None:
        child = self.stack.children[name]
        assert child.returncode is not None
        tail = "".join(f"\n    | {line}" for line in child.last_lines(10))
        self.log(
            f"{name} {describe_exit(child.returncode)}; restarting it in {watch.delay:g}s"
            + (f"; its last lines:{tail}" if tail else "")
        )
        watch.restart_at = now + watch.delay
        watch.delay = min(watch.delay * 2, MAX_DELAY_SECONDS)

    def _restart(self, name: str, watch: _Watch, now: float) -> None:
        child = self.stack.children[name]
        watch.restart_at, watch.started_at, watch.answered = None, now, False
        try:
            child.start()
        except OSError as exc:
            self.log(f"{name} could not be restarted: {exc}")
            return
        self.log(f"{name} restarted (pid {child.pid})")

    def run(self, stopping: threading.Event, interval: float = 0.2) -> None:
        """Watch until ``stopping`` is set."""
        while not stopping.is_set():
            self.tick(time.monotonic())
            stopping.wait(interval)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False
