"""Group commit: small units of work that arrive together share one transaction.

A bus worker runs many handlers at once, and each handler's unit of work is a few statements. One
transaction per unit pays a BEGIN, a COMMIT and a disk sync each time; here the units waiting while
a transaction runs form the next one, so under load a dozen commands cost one commit, and a lone
command still runs at once (nobody waits for a batch to fill).

A unit of work must only touch the session it is given (no effect outside the database before the
commit). When a grouped transaction fails, its units run again one by one, each in its own
transaction, so only the unit at fault sees the error. Each unit runs in its caller's context (its
log fields, its trace), whichever transaction it shares.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .db import AsyncSession, Database

__all__ = ["GroupCommit"]

T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[Any]]
Unit = tuple[Work, contextvars.Context, "asyncio.Future[Any]"]


class GroupCommit:
    """Runs units of work on ``db``, several per transaction when they queue up together."""

    def __init__(self, db: Database, *, max_units: int = 64) -> None:
        self.db = db
        self.max_units = max_units
        self._queue: list[Unit] = []
        self._runner: asyncio.Task[None] | None = None

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``work`` in a transaction (perhaps shared) and return its result once committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((work, contextvars.copy_context(), future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._drain(), name="group-commit")
        return await future

    async def _drain(self) -> None:
        group: list[Unit] = []
        try:
            await asyncio.sleep(0)  # let the handlers woken with this one queue theirs too
            while self._queue:
                group, self._queue = self._queue[: self.max_units], self._queue[self.max_units :]
                group = [unit for unit in group if not unit[2].cancelled()]
                if len(group) == 1:
                    await _alone(self.db, *group[0])
                elif group:
                    await self._together(group)
        finally:  # stopped mid-way (shutdown): nobody may wait for an answer that never comes
            for _, _, future in [*group, *self._queue]:
                if not future.done():
                    future.cancel()

    async def _together(self, group: list[Unit]) -> None:
        try:
            async with self.db.transaction() as session:
                results = [await _within(context, work, session) for work, context, _ in group]
        except Exception:
            for unit in group:  # find the unit at fault: each alone
                await _alone(self.db, *unit)
            return
        for (_, _, future), result in zip(group, results, strict=True):
            if not future.done():
                future.set_result(result)


def _within(context: contextvars.Context, work: Work, session: AsyncSession) -> Awaitable[Any]:
    """``work`` run as a task in its caller's context, so what it logs and traces is its own."""
    return asyncio.create_task(work(session), context=context)  # type: ignore[arg-type]


async def _alone(
    db: Database, work: Work, context: contextvars.Context, future: asyncio.Future[Any]
) -> None:
    try:
        async with db.transaction() as session:
            result = await _within(context, work, session)
    except Exception as exc:
        if not future.done():
            future.set_exception(exc)
        return
    if not future.done():
        future.set_result(result)
