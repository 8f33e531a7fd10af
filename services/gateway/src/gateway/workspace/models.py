"""The workspace's table: single-use WebSocket tickets."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlmodel import Field, SQLModel

from claudecloud_common.db import UTCDateTime


class WebSocketTicket(SQLModel, table=True):
    """A single-use ticket that lets a browser open one instance's terminal or chat WebSocket.

    Only the ticket's SHA-256 is stored: the table never holds a usable ticket. Using it deletes
    the row (one statement), so it works once even with several gateway replicas.
    """

    __tablename__ = "ws_tickets"

    digest: str = Field(primary_key=True, max_length=64)
    user_id: UUID
    instance_id: UUID
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
