"""A short cache of the provisioner's answers, kept honest by the instance events.

The gateway hears every ``evt.instance.*``; an event about an instance drops what is cached for
it, so a reader sees a change as soon as this replica has heard of it, and at the latest after
the time-to-live (the bus delivers live events at most once). An answer that was in flight when
an event arrived is returned to its caller but not kept: it may predate the change.

Readers that miss at once share one question: a burst (a thousand terminals opened on one
instance, a dashboard's reconnecting tabs) asks the provisioner once, not once each, and so does
not time out for lack of answers. A reader that comes after an event never joins a question
asked before it.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar
from uuid import UUID

V = TypeVar("V")

_REMEMBERED_CHANGES = 10_000


class EventFreshCache(Generic[V]):
    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[UUID, tuple[float, V]] = {}
        self._changes: OrderedDict[UUID, int] = OrderedDict()
        self._counter = 0
        self._asking: dict[UUID, asyncio.Task[V]] = {}

    async def get(
        self,
        key: UUID,
        load: Callable[[], Awaitable[V]],
        *,
        keep: Callable[[V], bool] | None = None,
    ) -> V:
        """The cached value for ``key``, or ``load()``'s (kept when ``keep`` allows)."""
        if self.ttl <= 0:
            return await load()
        entry = self._entries.get(key)
        if entry is not None and time.monotonic() - entry[0] < self.ttl:
            return entry[1]
        asking = self._asking.get(key)
        if asking is None:
            asking = self._asking[key] = asyncio.ensure_future(self._ask(key, load, keep))
            asking.add_done_callback(_retrieved)
        # Shielded: a caller that goes away does not cancel the question the others wait on.
        return await asyncio.shield(asking)

    async def _ask(
        self, key: UUID, load: Callable[[], Awaitable[V]], keep: Callable[[V], bool] | None
    ) -> V:
        seen = self._changes.get(key, 0)
        try:
            value = await load()
        finally:
            if self._asking.get(key) is asyncio.current_task():
                del self._asking[key]
        if self._changes.get(key, 0) == seen and (keep is None or keep(value)):
            self._entries[key] = (time.monotonic(), value)
        else:
            self._entries.pop(key, None)
        return value

    def changed(self, key: UUID) -> None:
        """Something happened to ``key``: drop its entry and any answer now in flight."""
        self._entries.pop(key, None)
        self._asking.pop(key, None)  # readers from now on ask anew
        self._counter += 1
        self._changes[key] = self._counter
        self._changes.move_to_end(key)
        if len(self._changes) > _REMEMBERED_CHANGES:
            self._changes.popitem(last=False)


def _retrieved(task: asyncio.Task[object]) -> None:
    """Its error is its waiters' to handle; with none left, it is not logged as unretrieved."""
    if not task.cancelled():
        task.exception()
