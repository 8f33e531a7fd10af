"""The audit service's bus edge: the events it records and the questions it answers."""

from __future__ import annotations

from faststream.nats import NatsBroker

from claudecloud_common.bus import event_subscriber
from claudecloud_common.contracts.audit import (
    AuditPage,
    AuditRecorded,
    AuditSubject,
    AuditVerification,
    ListAudit,
    VerifyAudit,
)
from claudecloud_common.db import Database
from claudecloud_common.logging import bind_correlation
from claudecloud_common.rpc import rpc_reply, rpc_subscriber

from .metrics import BROKEN_CHAINS
from .service import AuditService
from .settings import AuditSettings


def register(broker: NatsBroker, db: Database, settings: AuditSettings) -> None:
    """Attach the audit service's subscribers to ``broker``."""

    @event_subscriber(broker, AuditSubject.RECORDED, settings=settings)
    async def on_recorded(event: AuditRecorded) -> None:
        """Append the act to its user's chain (once, however often it is delivered)."""
        with bind_correlation(event.correlation_id, kind=event.kind.value):
            async with db.transaction() as session:
                await AuditService(session).append(event)

    @rpc_subscriber(broker, ListAudit, settings=settings)
    @rpc_reply
    async def on_list(query: ListAudit) -> AuditPage:
        """A page of records, newest first (the gateway asks for one user only)."""
        async with db.read() as session:
            return await AuditService(session).page(query)

    @rpc_subscriber(broker, VerifyAudit, settings=settings)
    @rpc_reply
    async def on_verify(query: VerifyAudit) -> AuditVerification:
        """Walk one chain or every chain; name each record edited or deleted."""
        async with db.read() as session:
            found = await AuditService(session).verify(query, batch=settings.verify_batch)
        if query.user_id is None and not query.platform:
            BROKEN_CHAINS.set(found.broken)
        return found
