"""Group commit: small units of work that arrive together share one transaction.

A bus worker runs many handlers at once, and each handler's unit of work is a few statements. One
transaction per unit pays a BEGIN, a COMMIT and a disk sync each time; here the units waiting while
a transaction runs form the next one, so under load a dozen commands cost one commit, and a lone
command still runs at once (nobody waits for a batch to fill).

A unit of work must only touch the session it is given (no effect outside the database before the
commit). When a grouped transaction fails, its units run again one by one, each in its own
transaction, so only the unit at fault sees the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .db import AsyncSession, Database

__all__ = ["GroupCommit"]

T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[Any]]


class GroupCommit:
    """Runs units of work on ``db``, several per transaction when they queue up together."""

    def __init__(self, db: Database, *, max_units: int = 64) -> None:
        self.db = db
        self.max_units = max_units
        self._queue: list[tuple[Work, asyncio.Future[Any]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``work`` in a transaction (perhaps shared) and return its result once committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((work, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._drain(), name="group-commit")
        return await future

    async def _drain(self) -> None:
        group: list[tuple[Work, asyncio.Future[Any]]] = []
        try:
            await asyncio.sleep(0)  # let the handlers woken with this one queue theirs too
            while self._queue:
                group, self._queue = self._queue[: self.max_units], self._queue[self.max_units :]
                group = [(work, future) for work, future in group if not future.cancelled()]
                if len(group) == 1:
                    await _alone(self.db, *group[0])
                elif group:
                    await self._together(group)
        finally:  # stopped mid-way (shutdown): nobody may wait for an answer that never comes
            for _, future in [*group, *self._queue]:
                if not future.done():
                    future.cancel()

    async def _together(self, group: list[tuple[Work, asyncio.Future[Any]]]) -> None:
        try:
            async with self.db.transaction() as session:
                results = [await work(session) for work, _ in group]
        except Exception:
            for work, future in group:  # find the unit at fault: each alone
                await _alone(self.db, work, future)
            return
        for (_, future), result in zip(group, results, strict=True):
            if not future.done():
                future.set_result(result)


async def _alone(db: Database, work: Work, future: asyncio.Future[Any]) -> None:
    try:
        async with db.transaction() as session:
            result = await work(session)
    except Exception as exc:
        if not future.done():
            future.set_exception(exc)
        return
    if not future.done():
        future.set_result(result)
