"""Time for the poller: the real one, or one a test moves by hand."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...

    async def sleep_until(self, moment: datetime) -> None:
        """Return once :meth:`now` has reached ``moment``."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, moment: datetime) -> None:
        delay = (moment - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)


class ManualClock:
    """Stands still until :meth:`advance` moves it; sleepers whose moment came then wake."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)
        self._changed = asyncio.Condition()

    def now(self) -> datetime:
        return self._now

    async def advance(self, seconds: float) -> None:
        async with self._changed:
            self._now += timedelta(seconds=seconds)
            self._changed.notify_all()

    async def sleep_until(self, moment: datetime) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._now >= moment)
