"""The inbox: which messages a consumer has already applied.

A handler records the message id in the same transaction as its state change, so a redelivered
message is acknowledged with no effect.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Table, bindparam, select
from sqlmodel import Field, SQLModel

from .contracts.base import utcnow
from .db import AsyncSession, UTCDateTime, defer_insert

__all__ = ["InboxMessage", "already_processed", "mark_processed"]


class InboxMessage(SQLModel, table=True):
    __tablename__ = "inbox"

    message_id: UUID = Field(primary_key=True)
    consumer: str = Field(primary_key=True, max_length=200)
    processed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


INBOX: Table = InboxMessage.__table__  # type: ignore[attr-defined]

# Built once: every command asks this, and building a statement costs more than running it.
_SEEN = select(INBOX.c.message_id).where(
    INBOX.c.message_id == bindparam("message_id"), INBOX.c.consumer == bindparam("consumer")
)


async def already_processed(session: AsyncSession, message_id: UUID, consumer: str) -> bool:
    connection = await session.connection()
    found = await connection.execute(_SEEN, {"message_id": message_id, "consumer": consumer})
    return found.first() is not None


def mark_processed(session: AsyncSession, message_id: UUID, consumer: str) -> None:
    """Record ``message_id`` as applied when the transaction commits."""
    values = {"message_id": message_id, "consumer": consumer, "processed_at": utcnow()}
    defer_insert(session, INBOX, values)
