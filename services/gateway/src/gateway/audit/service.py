"""The owner's audit log in terms of the bus: the audit service's ``rpc.audit.list``, a page at a
time, or every page for an export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from uuid import UUID

from faststream.nats import NatsBroker

from claudecloud_common.contracts.audit import AuditKind, AuditPage, AuditRecordView, ListAudit
from claudecloud_common.rpc import request

EXPORT_PAGE = 500
EXPORT_LIMIT = 100_000
"""An export stops after this many records (narrow it by time for more)."""


class AuditGateway:
    def __init__(self, broker: NatsBroker, *, rpc_timeout: float) -> None:
        self.broker = broker
        self.rpc_timeout = rpc_timeout

    async def page(
        self,
        user_id: UUID,
        *,
        kinds: list[AuditKind],
        since: datetime | None,
        until: datetime | None,
        before: int | None,
        limit: int,
    ) -> AuditPage:
        query = ListAudit(
            user_id=user_id,
            kinds=list(dict.fromkeys(kinds)),  # each kind once (a query may repeat one)
            since=since,
            until=until,
            before=before,
            limit=limit,
        )
        return await request(self.broker, query, timeout=self.rpc_timeout)

    async def export(
        self,
        user_id: UUID,
        *,
        kinds: list[AuditKind],
        since: datetime | None,
        until: datetime | None,
    ) -> AsyncIterator[AuditRecordView]:
        """Every record asked for, newest first, page after page."""
        before: int | None = None
        sent = 0
        while sent < EXPORT_LIMIT:
            page = await self.page(
                user_id, kinds=kinds, since=since, until=until, before=before, limit=EXPORT_PAGE
            )
            for item in page.items:
                yield item
            sent += len(page.items)
            if page.next_before is None:
                return
            before = page.next_before
