"""Sign-in's tables: users, and the magic links already used."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

from sqlmodel import Field, SQLModel

from claudecloud_common.contracts.base import utcnow
from claudecloud_common.db import UTCDateTime

MAX_EMAIL_LENGTH = 320


class User(SQLModel, table=True):
    """A person who signs in with their email. The email is stored normalised (trimmed,
    lower-case), so one address is one user whatever case it was typed in."""

    __tablename__ = "users"

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    email: str = Field(max_length=MAX_EMAIL_LENGTH, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sessions_valid_after: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """Logging out moves this to now: sessions issued before it are refused."""


class UsedMagicLink(SQLModel, table=True):
    """A magic link's ``jti`` once it has been exchanged for a session; a link works once."""

    __tablename__ = "used_magic_links"

    jti: str = Field(primary_key=True, max_length=64)
    user_id: UUID = Field(index=True)
    used_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    """When the link would have expired anyway; rows past it can be deleted."""
