"""The chaos itself: SIGKILL a random service, or NATS, at random moments, a bounded number of
times. ``make run``'s supervisor brings each back (NATS on the same port and store folder)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from dataclasses import dataclass, field

import httpx

from devstack.waiting import eventually

from .platform import Platform

VICTIMS = ("provisioner", "gateway", "billing", "activity")
NATS = "nats"
BACK_WITHIN_SECONDS = 60.0


@dataclass(frozen=True)
class FaultPlan:
    kills: int
    """Services SIGKILLed (each time one of :data:`VICTIMS` still running)."""
    nats_restarts: int
    """NATS SIGKILLed (its supervisor starts it again on the same store)."""
    every: float
    """Mean seconds between two faults (each gap drawn from half to one and a half of it)."""
    seed: int | None = None


@dataclass
class FaultLog:
    planned_kills: int = 0
    planned_nats_restarts: int = 0
    kills: int = 0
    nats_restarts: int = 0
    by_victim: dict[str, int] = field(default_factory=dict)
    at: list[str] = field(default_factory=list)


class Faults:
    def __init__(self, platform: Platform, plan: FaultPlan) -> None:
        self.platform = platform
        self.plan = plan
        self.random = random.Random(plan.seed)
        self.log = FaultLog(plan.kills, plan.nats_restarts)
        self.pending = self.schedule()
        self.planned = len(self.pending)
        self.over = False
        self._started = time.monotonic()

    def schedule(self) -> list[str]:
        """What to kill, in order: the services drawn at random, NATS spread among the first
        half of them (so a short run sees it too)."""
        order = [self.random.choice(VICTIMS) for _ in range(self.plan.kills)]
        for _ in range(self.plan.nats_restarts):
            order.insert(self.random.randint(1, max(1, len(order) // 2)), NATS)
        return order

    async def run(self, done: asyncio.Event) -> None:
        """Fault after fault until the schedule is spent or ``done`` is set. Each waits for the
        last victim to answer again (up to :data:`BACK_WITHIN_SECONDS`): one crash at a time,
        never one while a process is still importing its modules."""
        try:
            while self.pending and not done.is_set():
                victim = self.pending.pop(0)
                gap = self.plan.every * self.random.uniform(0.5, 1.5)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), timeout=gap)
                await self._back(victim, done)  # up (it may have died on its own meanwhile)
                if not done.is_set():
                    await self._back(self.kill(victim), done)
        finally:
            self.over = True

    @property
    def struck(self) -> int:
        return self.log.kills + self.log.nats_restarts

    async def reached(self, share: float) -> None:
        """Until ``share`` (0 to 1) of the planned faults have landed, or there are no more:
        the lifecycles are spread over the faults, so each fault lands among them however
        fast the machine restarts a process."""
        wanted = int(share * self.planned)
        await eventually(
            lambda: self.over or self.struck >= wanted,
            timeout=BACK_WITHIN_SECONDS * (self.planned + 1) * 2,
            interval=0.2,
            what=f"{wanted} faults",
        )

    async def _back(self, name: str, done: asyncio.Event) -> None:
        deadline = time.monotonic() + BACK_WITHIN_SECONDS
        while time.monotonic() < deadline and not done.is_set():
            if await self._answers(name):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=0.5)
        if not done.is_set():
            print(f"chaos: {name} did not answer within {BACK_WITHIN_SECONDS:g}s", flush=True)

    def kill(self, name: str) -> str:
        """SIGKILL ``name``'s process group, as a crash would (the supervisor notices and
        starts it again); returns its name."""
        child = self.platform.stack.children[name]
        child.signal_group(signal.SIGKILL)
        if name == NATS:
            self.log.nats_restarts += 1
        else:
            self.log.kills += 1
        self.log.by_victim[name] = self.log.by_victim.get(name, 0) + 1
        self.log.at.append(f"{time.monotonic() - self._started:.1f}s {name}")
        print(f"chaos: {self.log.at[-1]} SIGKILLed", flush=True)
        return name

    async def _answers(self, name: str) -> bool:
        """A service answers its health check; NATS, every service's (they need the bus)."""
        names = VICTIMS if name == NATS else (name,)
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                for each in names:
                    answer = await http.get(self.platform.stack.spec(each).health_url)
                    if answer.status_code != 200:
                        return False
        except httpx.HTTPError:
            return False
        return True
