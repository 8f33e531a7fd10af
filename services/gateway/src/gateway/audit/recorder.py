"""How the gateway's audit events reach the bus: after the fact, off the request's path.

The gateway has no outbox (it emits no event of its own in a transaction; see the migrations),
and an audit event must never slow or fail the request it records. So :meth:`AuditRecorder.record`
only queues the event in memory; one background task publishes the queue in order with the bus's
durable publish (JetStream's acknowledgement awaited, ``Nats-Msg-Id`` the event's id, so a
publish repeated after a lost acknowledgement is stored once), and while the bus does not answer
it keeps the queue and tries again with backoff.

What can be lost, and only this: events still queued when the gateway process dies (a crash or
SIGKILL while the bus is down or slow; a clean stop first tries for ``drain_seconds`` to publish
what is left), and events beyond ``capacity`` queued during a long outage (the oldest are kept,
the newest dropped). Each loss is logged (``audit.events_lost``) and counted
(``claudecloud_gateway_audit_events_lost_total``).
"""

from __future__ import annotations

import asyncio
import contextlib

from faststream.nats import NatsBroker

from claudecloud_common.bus import publish
from claudecloud_common.contracts.audit import AuditRecorded
from claudecloud_common.errors import UnavailableError
from claudecloud_common.logging import describe_error, get_logger

from .metrics import AUDIT_LOST, AUDIT_QUEUED

__all__ = ["AuditRecorder"]

log = get_logger(__name__)

BATCH = 64
"""Events published at once (their acknowledgements overlap)."""
BACKOFF_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)


class AuditRecorder:
    """Queues audit events and publishes them in the background, in order."""

    def __init__(
        self, broker: NatsBroker, *, capacity: int = 10_000, drain_seconds: float = 3.0
    ) -> None:
        self.broker = broker
        self.capacity = capacity
        self.drain_seconds = drain_seconds
        self._queue: asyncio.Queue[AuditRecorded] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def record(self, event: AuditRecorded) -> None:
        """Queue ``event``; returns at once, never raises."""
        if self._queue.qsize() >= self.capacity:
            AUDIT_LOST.labels("queue_full").inc()
            log.error("audit.events_lost", reason="queue_full", kind=event.kind.value)
            return
        self._queue.put_nowait(event)
        AUDIT_QUEUED.set(self._queue.qsize())

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="audit-publisher")

    async def stop(self) -> None:
        """Publish what is queued for up to ``drain_seconds``, then stop; what is left is
        lost, and said so."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained(), self.drain_seconds)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        left = self._queue.qsize()
        if left:
            AUDIT_LOST.labels("stopped").inc(left)
            log.error("audit.events_lost", reason="stopped", count=left)

    async def flushed(self) -> None:
        """Wait until everything queued so far is on the bus (tests, and a clean stop)."""
        await self._drained()

    async def _drained(self) -> None:
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._publish(batch)
            for _ in batch:
                self._queue.task_done()
            AUDIT_QUEUED.set(self._queue.qsize())

    async def _publish(self, batch: list[AuditRecorded]) -> None:
        """Every event of ``batch`` on the bus, however long the bus takes to come back."""
        attempt = 0
        while batch:
            results = await asyncio.gather(
                *(publish(self.broker, event) for event in batch), return_exceptions=True
            )
            failed = [e for e, r in zip(batch, results, strict=True) if isinstance(r, Exception)]
            unexpected = [r for r in results if isinstance(r, Exception)]
            if failed and not all(isinstance(r, UnavailableError) for r in unexpected):
                log.warning("audit.publish_failed", error=describe_error(unexpected[0]))
            batch = failed
            if batch:
                await asyncio.sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)])
                attempt += 1
