"""The transactional outbox: events written with the change they announce, published after.

A service calls :func:`add_to_outbox` inside its transaction. The :class:`OutboxRelay` publishes
pending rows to JetStream (``Nats-Msg-Id`` = message id, so a row published twice after a crash is
dropped by the server) and deletes them. It wakes right after each commit and also polls, so a
crash between commit and publish delays an event but never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from faststream.nats import NatsBroker
from sqlalchemy import delete
from sqlmodel import Field, SQLModel, col, select

from .bus import publish_raw
from .contracts.base import Message, utcnow
from .db import AsyncSession, Database, UTCDateTime
from .logging import get_logger

__all__ = ["OutboxMessage", "OutboxRelay", "add_to_outbox"]

log = get_logger(__name__)


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"

    seq: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(unique=True, max_length=64)
    subject: str = Field(max_length=200)
    payload: bytes
    correlation_id: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def add_to_outbox(session: AsyncSession, subject: str, message: Message) -> None:
    """Queue ``message`` for publication on ``subject`` when the session's transaction commits."""
    session.add(
        OutboxMessage(
            message_id=str(message.id),
            subject=subject,
            payload=message.model_dump_json().encode(),
            correlation_id=message.correlation_id,
        )
    )


class OutboxRelay:
    """Publishes committed outbox rows in order; one task per process."""

    def __init__(
        self, database: Database, broker: NatsBroker, *, poll_seconds: float, batch: int = 256
    ) -> None:
        self._db = database
        self._broker = broker
        self._poll = poll_seconds
        self._batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        database.on_commit(self._wake.set)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                while await self.publish_pending():
                    pass
            except Exception as exc:  # the bus or the database is down: try again shortly
                log.warning("outbox.publish_failed", error=str(exc), exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)

    async def publish_pending(self) -> int:
        """Publish one batch of pending rows; return how many went out."""
        async with self._db.transaction(notify=False) as session:
            query = select(OutboxMessage).order_by(col(OutboxMessage.seq)).limit(self._batch)
            if not self._db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            rows = list((await session.exec(query)).all())
            for row in rows:
                await publish_raw(
                    self._broker,
                    row.subject,
                    row.payload,
                    message_id=row.message_id,
                    correlation_id=row.correlation_id,
                )
            if rows:
                seqs = [row.seq for row in rows]
                await session.exec(delete(OutboxMessage).where(col(OutboxMessage.seq).in_(seqs)))
        return len(rows)
