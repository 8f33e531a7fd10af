"""SQL for git accounts and authorizations under way. Only the gateway reads these tables."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import delete, or_, update
from sqlmodel import col, select

from claudecloud_common.db import AsyncSession

from .models import GitAccount, GitAuthorization


class GitAccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: UUID, provider: str) -> GitAccount | None:
        statement = select(GitAccount).where(
            col(GitAccount.user_id) == user_id, col(GitAccount.provider) == provider
        )
        return (await self.session.exec(statement)).first()

    async def save(self, account: GitAccount) -> GitAccount:
        """Insert the account, or replace the one the user had at this provider."""
        found = await self.get(account.user_id, account.provider)
        if found is None:
            self.session.add(account)
            await self.session.flush()
            return account
        for name in GitAccount.model_fields:
            if name not in ("user_id", "provider", "connected_at"):
                setattr(found, name, getattr(account, name))
        await self.session.flush()
        return found

    async def remove(self, user_id: UUID, provider: str) -> GitAccount | None:
        """Delete the account; what it was (to revoke its token), or None."""
        found = await self.get(user_id, provider)
        if found is not None:
            await self.session.delete(found)
            await self.session.flush()
        return found

    async def claim_refresh(
        self, user_id: UUID, provider: str, *, ciphertext: bytes, now: datetime, until: datetime
    ) -> bool:
        """Take the refresh lease, in one statement, if nobody holds it and the tokens are still
        the ones the caller read (``ciphertext``); True when taken."""
        statement = (
            update(GitAccount)
            .where(
                col(GitAccount.user_id) == user_id,
                col(GitAccount.provider) == provider,
                col(GitAccount.ciphertext) == ciphertext,
                or_(
                    col(GitAccount.refresh_lease_until).is_(None),
                    col(GitAccount.refresh_lease_until) < now,
                ),
            )
            .values(refresh_lease_until=until)
        )
        result = await self.session.exec(statement)
        return bool(result.rowcount)

    async def release_refresh(self, user_id: UUID, provider: str) -> None:
        statement = (
            update(GitAccount)
            .where(col(GitAccount.user_id) == user_id, col(GitAccount.provider) == provider)
            .values(refresh_lease_until=None)
        )
        await self.session.exec(statement)


class GitAuthorizationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, authorization: GitAuthorization) -> None:
        self.session.add(authorization)

    async def get(self, digest: str) -> GitAuthorization | None:
        return await self.session.get(GitAuthorization, digest)

    async def take(self, digest: str) -> GitAuthorization | None:
        """Delete the authorization and return it, in one statement: only one caller gets it."""
        table = GitAuthorization.__table__  # type: ignore[attr-defined]
        statement = delete(GitAuthorization).where(col(GitAuthorization.digest) == digest)
        row = (await self.session.exec(statement.returning(*table.columns))).first()
        if row is None:
            return None
        found = GitAuthorization.model_validate(dict(row._mapping))
        found.expires_at = _aware(found.expires_at)
        return found

    async def set_interval(self, digest: str, interval: int) -> None:
        statement = (
            update(GitAuthorization)
            .where(col(GitAuthorization.digest) == digest)
            .values(interval=interval)
        )
        await self.session.exec(statement)

    async def remove_expired(self, now: datetime) -> None:
        await self.session.exec(
            delete(GitAuthorization).where(col(GitAuthorization.expires_at) < now)
        )


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
