"""Single-use WebSocket tickets: how a browser opens a terminal or chat without putting its
session in a URL.

An authenticated ``POST /instances/{id}/tickets`` issues one; the WebSocket upgrade spends it.
A ticket names one user and one instance, lives ``ticket_ttl_seconds`` and works once. Only its
SHA-256 is stored, in the gateway's database, so every replica can spend it and none can leak it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from claudecloud_common.contracts.base import utcnow
from claudecloud_common.db import AsyncSession

from .errors import TicketRejected
from .models import WebSocketTicket
from .repository import TicketRepository


@dataclass(frozen=True)
class IssuedTicket:
    ticket: str
    expires_at: datetime


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


class TicketService:
    def __init__(self, session: AsyncSession, ttl_seconds: float) -> None:
        self.tickets = TicketRepository(session)
        self.ttl = timedelta(seconds=ttl_seconds)

    async def issue(self, user_id: UUID, instance_id: UUID) -> IssuedTicket:
        now = utcnow()
        await self.tickets.remove_expired(now)
        ticket = secrets.token_urlsafe(32)
        expires_at = now + self.ttl
        self.tickets.add(
            WebSocketTicket(
                digest=_digest(ticket),
                user_id=user_id,
                instance_id=instance_id,
                expires_at=expires_at,
            )
        )
        return IssuedTicket(ticket, expires_at)

    async def redeem(self, ticket: str, instance_id: UUID) -> UUID:
        """Spend ``ticket`` for ``instance_id``; the user it was issued to."""
        found = await self.tickets.take(_digest(ticket), instance_id)
        if found is None:
            raise TicketRejected("this ticket is unknown, already used, or for another instance")
        if found.expires_at <= utcnow():
            raise TicketRejected("this ticket has expired: ask for a new one")
        return found.user_id
