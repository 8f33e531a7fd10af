"""A service's background work: one named task, started once the service runs and cancelled when
it stops (the worker's ``on_started``/``on_stopping`` hooks, the gateway's lifespan).

:class:`Periodic` is the common case: ``tick`` every ``interval`` seconds; a tick that fails (the
database or a vendor is down) is logged and tried again next time, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib

from .logging import describe_error, get_logger

__all__ = ["BackgroundTask", "Periodic"]

log = get_logger(__name__)


class BackgroundTask:
    """Runs :meth:`run` as one task between :meth:`start` and :meth:`stop`."""

    name = "background"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        raise NotImplementedError


class Periodic(BackgroundTask):
    """Calls :meth:`tick` every ``interval`` seconds (at once first when ``at_start``); 0 or less
    means never. A failing tick is logged as :attr:`failure_event` and tried again next time."""

    failure_event = "background.tick_failed"

    def __init__(self, interval: float, *, at_start: bool = False) -> None:
        super().__init__()
        self.interval = interval
        self.at_start = at_start

    async def start(self) -> None:
        if self.interval > 0:
            await super().start()

    async def run(self) -> None:
        if not self.at_start:
            await asyncio.sleep(self.interval)
        while True:
            await self.tick_once()
            await asyncio.sleep(self.interval)

    async def tick_once(self) -> None:
        """One tick now, its failure logged as :attr:`failure_event` rather than raised (a
        service's start-up must not die of a database busy for a moment)."""
        try:
            await self.tick()
        except Exception as exc:
            log.warning(self.failure_event, error=describe_error(exc))

    async def tick(self) -> None:
        raise NotImplementedError
