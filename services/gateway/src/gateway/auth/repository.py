"""SQL for users and used magic links. Only the gateway reads these tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import CursorResult, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel, col, select

from claudecloud_common.contracts.base import utcnow
from claudecloud_common.db import AsyncSession

from .models import UsedMagicLink, User


async def _insert_unless_present(
    session: AsyncSession, table: type[SQLModel], key: str, **values: Any
) -> bool:
    """``INSERT … ON CONFLICT DO NOTHING``; True when the row was inserted by this call."""
    is_postgres = session.get_bind().dialect.name == "postgresql"
    dialect = postgresql if is_postgres else sqlite
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=[key])
    result: CursorResult[Any] = await session.exec(statement)
    return bool(result.rowcount)


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def by_email(self, email: str) -> User | None:
        return (await self.session.exec(select(User).where(User.email == email))).first()

    async def get_or_create(self, email: str) -> User:
        """The user with this (normalised) email, created when new; two sign-ins racing for
        one new address end with one user."""
        await _insert_unless_present(
            self.session, User, "email", id=uuid4(), email=email, created_at=utcnow()
        )
        user = await self.by_email(email)
        assert user is not None
        return user

    async def set_sessions_valid_after(self, user_id: UUID, when: datetime) -> None:
        user = await self.get(user_id)
        if user is not None:
            user.sessions_valid_after = when
            self.session.add(user)


class MagicLinkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, jti: str, user_id: UUID, expires_at: datetime) -> bool:
        """Record the link as used; False when it already was (by this or a racing request)."""
        return await _insert_unless_present(
            self.session,
            UsedMagicLink,
            "jti",
            jti=jti,
            user_id=user_id,
            used_at=utcnow(),
            expires_at=expires_at,
        )

    async def forget_expired(self, now: datetime) -> None:
        """Links past their expiry are refused by their signature anyway; their rows can go."""
        await self.session.exec(delete(UsedMagicLink).where(col(UsedMagicLink.expires_at) < now))
