"""The chaos itself: SIGKILL a random service, or NATS, at random moments, a bounded number of
times. ``make run``'s supervisor brings each back (NATS on the same port and store folder)."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from dataclasses import dataclass, field

import httpx

from .platform import Platform

VICTIMS = ("provisioner", "gateway", "billing", "activity")
NATS = "nats"


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
    kills: int = 0
    nats_restarts: int = 0
    by_victim: dict[str, int] = field(default_factory=dict)
    at: list[str] = field(default_factory=list)


class Faults:
    def __init__(self, platform: Platform, plan: FaultPlan) -> None:
        self.platform = platform
        self.plan = plan
        self.random = random.Random(plan.seed)
        self.log = FaultLog()
        self._started = time.monotonic()

    def schedule(self) -> list[str]:
        """What to kill, in order: the services drawn at random, NATS spread among the first
        half of them (so a short run sees it too)."""
        order = [self.random.choice(VICTIMS) for _ in range(self.plan.kills)]
        for _ in range(self.plan.nats_restarts):
            order.insert(self.random.randint(1, max(1, len(order) // 2)), NATS)
        return order

    async def run(self, done: asyncio.Event) -> None:
        """Fault after fault until the schedule is spent or ``done`` is set. A fault whose
        victim is not up yet (nor any other service) waits for the next turn."""
        pending = self.schedule()
        while pending:
            gap = self.plan.every * self.random.uniform(0.5, 1.5)
            try:
                await asyncio.wait_for(done.wait(), timeout=gap)
                return
            except TimeoutError:
                pass
            if await self._strike(pending[0]):
                pending.pop(0)

    async def _strike(self, victim: str) -> bool:
        if await self.kill(victim):
            return True
        if victim == NATS:
            return False  # still coming back from the last restart: the next turn
        # Still coming back from an earlier kill: another service takes its turn.
        others = [v for v in VICTIMS if v != victim]
        self.random.shuffle(others)
        for other in others:
            if await self.kill(other):
                return True
        return False

    async def kill(self, name: str) -> bool:
        """SIGKILL ``name``'s process group, as a crash would; False when it is not up (its
        restart is still under way). The supervisor notices and starts it again."""
        child = self.platform.stack.children.get(name)
        if child is None or not child.running() or not await self._answers(name):
            return False
        child.signal_group(signal.SIGKILL)
        if name == NATS:
            self.log.nats_restarts += 1
        else:
            self.log.kills += 1
        self.log.by_victim[name] = self.log.by_victim.get(name, 0) + 1
        self.log.at.append(f"{time.monotonic() - self._started:.1f}s {name}")
        print(f"chaos: {self.log.at[-1]} SIGKILLed", flush=True)
        return True

    async def _answers(self, name: str) -> bool:
        if name == NATS:
            return True
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                answer = await http.get(self.platform.stack.spec(name).health_url)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200
