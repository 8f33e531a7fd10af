"""The inbox: which messages a consumer has already applied.

A handler records the message id in the same transaction as its state change, so a redelivered
message is acknowledged with no effect.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlmodel import Field, SQLModel, col, select

from .contracts.base import utcnow
from .db import AsyncSession, UTCDateTime

__all__ = ["InboxMessage", "already_processed", "mark_processed"]


class InboxMessage(SQLModel, table=True):
    __tablename__ = "inbox"

    message_id: UUID = Field(primary_key=True)
    consumer: str = Field(primary_key=True, max_length=200)
    processed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


async def already_processed(session: AsyncSession, message_id: UUID, consumer: str) -> bool:
    found = await session.exec(
        select(col(InboxMessage.message_id)).where(
            InboxMessage.message_id == message_id, InboxMessage.consumer == consumer
        )
    )
    return found.first() is not None


def mark_processed(session: AsyncSession, message_id: UUID, consumer: str) -> None:
    session.add(InboxMessage(message_id=message_id, consumer=consumer))
