"""Live instance events from the bus, fanned out to whoever in this process is waiting.

Two kinds of listeners: a request waiting for the provisioner to admit or refuse its command
(keyed by command id), and an event stream following one instance (keyed by instance id).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator, Iterator
from uuid import UUID

from claudecloud_common.contracts.instances import (
    InstanceAccepted,
    InstanceEvent,
    InstanceRejected,
    InstanceRequested,
)

ADMISSION_EVENTS = (InstanceRequested, InstanceAccepted, InstanceRejected)


class EventHub:
    """Fans events out in this process. Core NATS may hand the same event over twice (a relay
    that re-publishes after a failure): each event id is dispatched once."""

    def __init__(self, remember: int = 10_000) -> None:
        self._seen: OrderedDict[UUID, None] = OrderedDict()
        self._remember = remember
        self._admissions: dict[UUID, list[asyncio.Future[InstanceEvent]]] = defaultdict(list)
        self._followers: dict[UUID, set[asyncio.Queue[InstanceEvent]]] = defaultdict(set)

    def dispatch(self, event: InstanceEvent) -> None:
        if event.id in self._seen:
            return
        self._seen[event.id] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        if event.command_id is not None and isinstance(event, ADMISSION_EVENTS):
            for future in self._admissions.pop(event.command_id, []):
                if not future.done():
                    future.set_result(event)
        for queue in self._followers.get(event.instance_id, ()):
            queue.put_nowait(event)

    @contextlib.contextmanager
    def admission(self, command_id: UUID) -> Iterator[asyncio.Future[InstanceEvent]]:
        """Register before publishing, so the answer cannot slip past."""
        future: asyncio.Future[InstanceEvent] = asyncio.get_running_loop().create_future()
        self._admissions[command_id].append(future)
        try:
            yield future
        finally:
            waiting = self._admissions.get(command_id)
            if waiting and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self._admissions[command_id]

    @contextlib.asynccontextmanager
    async def follow(self, instance_id: UUID) -> AsyncIterator[asyncio.Queue[InstanceEvent]]:
        queue: asyncio.Queue[InstanceEvent] = asyncio.Queue(maxsize=1000)
        self._followers[instance_id].add(queue)
        try:
            yield queue
        finally:
            followers = self._followers.get(instance_id)
            if followers is not None:
                followers.discard(queue)
                if not followers:
                    del self._followers[instance_id]
