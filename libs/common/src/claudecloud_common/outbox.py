"""The transactional outbox: events written with the change they announce, published after.

A service calls :func:`add_to_outbox` inside its transaction. The :class:`OutboxRelay` publishes
the rows to JetStream with ``Nats-Msg-Id`` = message id, so a row published twice (a crash after
publishing, two paths racing) is dropped by the server.

Two paths. Fast: right after a commit, the rows that transaction wrote are handed to the relay in
memory and published at once, sent in commit order with their acknowledgements overlapping; their
rows are deleted in batches afterwards. (Only when a publish fails can a later event be stored
before an earlier one, which the recovery path then sends: consumers never rely on order alone.)
Recovery: every ``poll_seconds``, rows older than ``grace_seconds`` are published from the table:
what a crash between commit and publish (here or in another replica) left behind. A crash
therefore delays an event but never loses it. The same loop then measures the backlog (rows not
yet published, the oldest one's age) for ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Protocol

from faststream.nats import NatsBroker
from sqlalchemy import Table, delete, func
from sqlmodel import Field, SQLModel, col, select

from .bus import publish_raw
from .contracts.base import Message, utcnow
from .db import AsyncSession, Database, UTCDateTime, Written, defer_insert
from .logging import describe_error, get_logger
from .metrics import OUTBOX_BACKLOG, Backlog
from .telemetry import TRACEPARENT, current_traceparent

__all__ = ["OutboxMessage", "OutboxRelay", "add_to_outbox"]

log = get_logger(__name__)

DELETE_EVERY_SECONDS = 0.2
PIPELINE = 128
"""Events the fast path has in flight at once (sent in order, acknowledged in any order)."""
MEASURE_SECONDS = 5.0
"""How long measuring the backlog may take before it is given up until the next poll."""
OLDEST_SCAN = 4096
"""Rows read at most to find the oldest unpublished one among published ones not yet deleted."""


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"

    seq: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(unique=True, max_length=64)
    subject: str = Field(max_length=200)
    payload: bytes
    correlation_id: str | None = Field(default=None, max_length=200)
    trace_parent: str | None = Field(default=None, max_length=64)
    """The span that wrote the event (W3C ``traceparent``), so its trace continues on the bus."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


OUTBOX: Table = OutboxMessage.__table__  # type: ignore[attr-defined]


class Pending(Protocol):
    """An outbox row as the relay reads it (an ORM object or an inserted row alike)."""

    seq: int | None
    message_id: str
    subject: str
    payload: bytes
    correlation_id: str | None
    trace_parent: str | None


def add_to_outbox(session: AsyncSession, message: Message) -> None:
    """Queue ``message`` for publication on its subject when the session's transaction commits."""
    values = {
        "message_id": str(message.id),
        "subject": str(message.subject),
        "payload": message.model_dump_json().encode(),
        "correlation_id": message.correlation_id,
        "trace_parent": current_traceparent(),
        "created_at": utcnow(),
    }
    defer_insert(session, OUTBOX, values, announce=True)


class OutboxRelay:
    """Publishes committed outbox rows in commit order; one per process."""

    def __init__(
        self,
        database: Database,
        broker: NatsBroker,
        *,
        poll_seconds: float,
        grace_seconds: float = 10.0,
        batch: int = 256,
    ) -> None:
        self._db = database
        self._broker = broker
        self._poll = poll_seconds
        self._grace = timedelta(seconds=grace_seconds)
        self._batch = batch
        self._fresh: asyncio.Queue[Pending] = asyncio.Queue()
        self._published: set[int] = set()
        self._degraded = False
        self._tasks: list[asyncio.Task[None]] = []
        self._backlog: Backlog | None = None
        database.on_commit(self._committed)

    def start(self) -> None:
        self._backlog = OUTBOX_BACKLOG.track()
        self._tasks = [
            asyncio.create_task(self._run_fast(), name="outbox-fast"),
            asyncio.create_task(self._run_recovery(), name="outbox-recovery"),
            asyncio.create_task(self._run_cleanup(), name="outbox-cleanup"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._backlog is not None:
            OUTBOX_BACKLOG.untrack(self._backlog)
            self._backlog = None
        with contextlib.suppress(Exception):
            await self._delete_published()

    def _committed(self, written: Written) -> None:
        if self._degraded:
            return  # the table is the truth until the recovery path has caught up
        for row in written.get(OUTBOX.name, ()):
            self._fresh.put_nowait(row)

    async def _run_fast(self) -> None:
        while True:
            rows = [await self._fresh.get()]
            while not self._fresh.empty():
                rows.append(self._fresh.get_nowait())
            for start in range(0, len(rows), PIPELINE):
                if not await self._publish_pipelined(rows[start : start + PIPELINE]):
                    break
            if len(self._published) >= self._batch:
                with contextlib.suppress(Exception):
                    await self._delete_published()

    async def _publish_pipelined(self, rows: list[Pending]) -> bool:
        """Publish ``rows`` without waiting for each acknowledgement before sending the next:
        one connection delivers them to the server in commit order, and the acknowledgements
        (each a disk sync) overlap. False, and the recovery path takes over, if any failed."""
        results = await asyncio.gather(
            *(self._publish(row) for row in rows), return_exceptions=True
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        for row, result in zip(rows, results, strict=True):
            if not isinstance(result, BaseException) and row.seq is not None:
                self._published.add(row.seq)
        if not failed:
            return True
        # Leave the rest to the recovery path, which publishes what is left in commit order.
        self._degraded = True
        while not self._fresh.empty():
            self._fresh.get_nowait()
        log.warning("outbox.publish_failed", error=str(failed[0]))
        return False

    async def _run_cleanup(self) -> None:
        # Published rows are deleted in batches, off the publishing path: a delete per event
        # would cost a transaction per event.
        while True:
            await asyncio.sleep(DELETE_EVERY_SECONDS)
            with contextlib.suppress(Exception):
                await self._delete_published()

    async def _run_recovery(self) -> None:
        while True:
            await asyncio.sleep(self._poll)
            try:
                while await self.publish_pending():
                    pass
                self._degraded = False
            except Exception as exc:  # the bus or the database is down: try again shortly
                log.warning("outbox.recovery_failed", error=describe_error(exc))
            await self._measure()

    async def _measure(self) -> None:
        if self._backlog is None:
            return
        try:
            found = await asyncio.wait_for(self.measure_backlog(), timeout=MEASURE_SECONDS)
        except Exception:  # the database is down: the age keeps growing from the last look
            return
        self._backlog.pending, self._backlog.oldest = found.pending, found.oldest

    async def measure_backlog(self) -> Backlog:
        """How many rows are not yet published, and when the oldest of them was written."""
        published = set(self._published)  # sent; deleted a moment later by the cleanup
        async with self._db.read() as session:
            total = (await session.exec(select(func.count(col(OutboxMessage.seq))))).one()
            first = select(col(OutboxMessage.seq), col(OutboxMessage.created_at))
            rows = (
                await session.exec(
                    first.order_by(col(OutboxMessage.seq)).limit(
                        min(len(published), OLDEST_SCAN) + 1
                    )
                )
            ).all()
        pending = max(0, total - len(published))
        oldest = next((at for seq, at in rows if seq not in published), None)
        return Backlog(pending, oldest.timestamp() if pending and oldest else None)

    async def publish_pending(self) -> int:
        """Publish one batch of rows the fast path did not handle; return how many went out."""
        cutoff = utcnow() - (timedelta(0) if self._degraded else self._grace)
        async with self._db.transaction(notify=False) as session:
            query = (
                select(OutboxMessage)
                .where(col(OutboxMessage.created_at) <= cutoff)
                .order_by(col(OutboxMessage.seq))
                .limit(self._batch)
            )
            if not self._db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            rows = [r for r in (await session.exec(query)).all() if r.seq not in self._published]
            for row in rows:
                await self._publish(row)
            if rows:
                seqs = [row.seq for row in rows]
                await session.exec(delete(OutboxMessage).where(col(OutboxMessage.seq).in_(seqs)))
        if rows:
            log.info("outbox.recovered", count=len(rows))
        return len(rows)

    async def _publish(self, row: Pending) -> None:
        await publish_raw(
            self._broker,
            row.subject,
            row.payload,
            message_id=row.message_id,
            correlation_id=row.correlation_id,
            extra_headers={TRACEPARENT: row.trace_parent} if row.trace_parent else None,
        )

    async def _delete_published(self) -> None:
        if not self._published:
            return
        seqs = list(self._published)
        async with self._db.transaction(notify=False) as session:
            await session.exec(delete(OutboxMessage).where(col(OutboxMessage.seq).in_(seqs)))
        self._published.difference_update(seqs)
