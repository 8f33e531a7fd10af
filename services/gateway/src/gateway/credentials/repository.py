"""SQL for stored Claude credentials. Only the gateway reads this table."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from claudecloud_common.db import AsyncSession

from .models import ClaudeCredential


class CredentialRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: UUID, *, for_update: bool = False) -> ClaudeCredential | None:
        return await self.session.get(ClaudeCredential, user_id, with_for_update=for_update)

    async def save(
        self,
        user_id: UUID,
        *,
        kind: str | None,
        ciphertext: bytes | None,
        last_four: str | None,
        now: datetime,
    ) -> ClaudeCredential:
        """Write the user's credential (``None``s: cleared) as the next revision."""
        row = await self.get(user_id, for_update=True)
        if row is None:
            row = ClaudeCredential(user_id=user_id, revision=0, updated_at=now)
            self.session.add(row)
        row.kind, row.ciphertext, row.last_four = kind, ciphertext, last_four
        row.revision += 1
        row.updated_at = now
        await self.session.flush()
        return row
