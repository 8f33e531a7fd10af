"""SQL for WebSocket tickets. Only the gateway reads this table."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import delete
from sqlmodel import col

from claudecloud_common.db import AsyncSession

from .models import WebSocketTicket


class TicketRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, ticket: WebSocketTicket) -> None:
        self.session.add(ticket)

    async def take(self, digest: str, instance_id: UUID) -> WebSocketTicket | None:
        """Delete the ticket and return it, in one statement: only one caller ever gets it."""
        statement = (
            delete(WebSocketTicket)
            .where(
                col(WebSocketTicket.digest) == digest,
                col(WebSocketTicket.instance_id) == instance_id,
            )
            .returning(
                col(WebSocketTicket.user_id),
                col(WebSocketTicket.instance_id),
                col(WebSocketTicket.expires_at),
            )
        )
        row = (await self.session.exec(statement)).first()
        if row is None:
            return None
        return WebSocketTicket(
            digest=digest, user_id=row[0], instance_id=row[1], expires_at=_aware(row[2])
        )

    async def remove_expired(self, now: datetime) -> None:
        await self.session.exec(
            delete(WebSocketTicket).where(col(WebSocketTicket.expires_at) < now)
        )


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
