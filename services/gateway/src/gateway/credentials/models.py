"""The credentials' table: one row per user who ever stored a Claude credential."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import BigInteger, LargeBinary
from sqlmodel import Field, SQLModel

from claudecloud_common.db import UTCDateTime


class ClaudeCredential(SQLModel, table=True):
    """A user's Claude credential, encrypted (AES-GCM under ``CREDENTIALS_KEY``, bound to the
    user), with its kind and last four characters for people to recognise it.

    Clearing empties the row and keeps it: ``revision`` grows with every change, so an instance
    that saw an older change (a late or repeated push) is never sent back in time.
    """

    __tablename__ = "claude_credentials"

    user_id: UUID = Field(primary_key=True, foreign_key="users.id")
    kind: str | None = Field(default=None, max_length=20)
    ciphertext: bytes | None = Field(default=None, sa_type=LargeBinary)
    last_four: str | None = Field(default=None, max_length=4)
    revision: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime = Field(sa_type=UTCDateTime)
