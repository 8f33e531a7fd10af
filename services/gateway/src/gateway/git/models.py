"""The git tables: each user's connected provider account, and the authorizations under way."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import LargeBinary
from sqlmodel import Field, SQLModel

from claudecloud_common.db import UTCDateTime


class GitAccount(SQLModel, table=True):
    """A user's account at a git provider, with its tokens sealed (AES-GCM under
    ``CREDENTIALS_KEY``, bound to the user and to git) and only what may be shown in clear.

    ``refresh_lease_until`` serialises refreshes across replicas: the provider kills the old
    token pair the moment it hands out a new one, so only the holder of the lease refreshes.
    """

    __tablename__ = "git_accounts"

    user_id: UUID = Field(primary_key=True, foreign_key="users.id")
    provider: str = Field(primary_key=True, max_length=40)
    login: str = Field(max_length=100)
    account_id: str = Field(max_length=64)
    scopes: str = Field(default="", max_length=500)
    ciphertext: bytes = Field(sa_type=LargeBinary)
    access_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """None: the token does not expire (an OAuth app's)."""
    refresh_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    device_grant: bool = False
    """Obtained through the device flow: refreshed without the client secret."""
    refresh_lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    connected_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class GitAuthorization(SQLModel, table=True):
    """A connection under way: a web flow's ``state`` or a device flow's handle, stored as its
    SHA-256 only (the table never holds one that works), bound to the user who began it and,
    for the web flow, to the browser (``browser_digest``: the cookie set when it began).

    ``sealed`` holds the PKCE verifier (web) or the provider's device code (device), sealed for
    the user. Finishing deletes the row in one statement, so it works once across replicas.
    """

    __tablename__ = "git_authorizations"

    digest: str = Field(primary_key=True, max_length=64)
    user_id: UUID = Field(foreign_key="users.id")
    provider: str = Field(max_length=40)
    kind: str = Field(max_length=10)
    browser_digest: str | None = Field(default=None, max_length=64)
    sealed: bytes | None = Field(default=None, sa_type=LargeBinary)
    interval: int | None = None
    """Device flow: the seconds the provider asks between polls (it grows with ``slow_down``)."""
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
