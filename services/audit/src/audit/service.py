"""The audit rules: append an event to its user's chain once, page through records, walk chains,
and let retention delete the oldest while keeping each chain verifiable. Never commits."""

from __future__ import annotations

import json
from datetime import timedelta
from uuid import UUID

from claudecloud_common.contracts.audit import (
    Actor,
    AuditKind,
    AuditOutcome,
    AuditPage,
    AuditRecorded,
    AuditRecordView,
    AuditVerification,
    ChainReport,
    ListAudit,
    Origin,
    VerifyAudit,
)
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.db import AsyncSession
from claudecloud_common.inbox import already_processed, mark_processed
from claudecloud_common.logging import get_logger

from .chain import Walk, canonical_detail, record_hash
from .errors import AmbiguousChain
from .metrics import RECORDS, RETENTION_DELETED
from .models import PLATFORM_CHAIN, AuditChain, AuditRecord
from .repository import ChainRepository, RecordRepository, chain_of

log = get_logger(__name__)

CONSUMER = "audit.recorded"
CHAINS_PER_PAGE = 500


class AuditService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.chains = ChainRepository(session)
        self.records = RecordRepository(session)

    async def append(self, event: AuditRecorded) -> AuditRecord | None:
        """Put ``event`` at the end of its user's chain, once however often it is delivered."""
        # The chain's lock first: a second delivery of the same event waits for the first to
        # commit, then finds it in the inbox (instead of racing it there).
        head = await self.chains.lock(chain_of(event.user_id))
        if await already_processed(self.session, event.id, CONSUMER):
            return None
        mark_processed(self.session, event.id, CONSUMER)
        record = _record(event, head)
        self.records.add(record)
        head.last_seq, head.last_hash, head.updated_at = record.seq, record.hash, record.recorded_at
        self.session.add(head)
        RECORDS.labels(event.kind.value).inc()
        return record

    async def page(self, query: ListAudit) -> AuditPage:
        """Newest first, narrowed as asked."""
        if query.user_id is not None and query.platform:
            raise AmbiguousChain("name a user or the platform's chain, not both")
        chain = PLATFORM_CHAIN if query.platform else None
        if query.user_id is not None:
            chain = chain_of(query.user_id)
        rows = await self.records.page(query, chain)
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        return AuditPage(
            items=[view(row) for row in rows],
            next_before=rows[-1].position if more and rows else None,
        )

    async def verify(self, query: VerifyAudit, *, batch: int) -> AuditVerification:
        """One chain (whatever it found), or every chain (those with a problem)."""
        if query.user_id is not None and query.platform:
            raise AmbiguousChain("name a user or the platform's chain, not both")
        if query.user_id is not None or query.platform:
            report = await self.verify_chain(chain_of(query.user_id), batch=batch)
            return AuditVerification(
                chains=1, records=report.records, broken=int(not report.intact), reports=[report]
            )
        chains = records = 0
        broken: list[ChainReport] = []
        after: str | None = None
        while names := await self.chains.names(after=after, limit=CHAINS_PER_PAGE):
            for name in names:
                report = await self.verify_chain(name, batch=batch)
                chains, records = chains + 1, records + report.records
                if not report.intact:
                    broken.append(report)
            after = names[-1]
        return AuditVerification(chains=chains, records=records, broken=len(broken), reports=broken)

    async def verify_chain(self, chain: str, *, batch: int) -> ChainReport:
        """Walk ``chain`` from its anchor to its head."""
        head = await self.chains.get(chain) or AuditChain(chain=chain)
        walk = Walk(
            user_id=_user_of(chain),
            anchor_seq=head.anchor_seq,
            anchor_hash=head.anchor_hash,
            last_seq=head.last_seq,
            last_hash=head.last_hash,
        )
        async for rows in self.records.walk(chain, batch=batch):
            for row in rows:
                walk.see(row)
        return walk.report()

    async def expired(self, retention: timedelta, *, limit: int) -> list[tuple[str, int]]:
        """Chains with records older than ``retention``, and how far each is to be cut."""
        return await self.records.expired(utcnow() - retention, limit=limit)

    async def cut(self, chain: str, through: int) -> int:
        """Delete ``chain``'s records up to ``through``, keeping the last one's hash as the
        chain's anchor; how many went."""
        head = await self.chains.lock(chain)
        through = min(through, head.last_seq)
        if through <= head.anchor_seq:
            return 0
        last = await self.records.at(chain, through)
        if last is None:
            log.warning("audit.retention_gap", chain=chain, seq=through)
            return 0  # verify names the gap; retention does not paper over it
        deleted = await self.records.delete_through(chain, through)
        head.anchor_seq, head.anchor_hash, head.updated_at = through, last.hash, utcnow()
        self.session.add(head)
        RETENTION_DELETED.inc(deleted)
        return deleted


def _record(event: AuditRecorded, head: AuditChain) -> AuditRecord:
    origin = event.origin or Origin()
    record = AuditRecord(
        chain=head.chain,
        seq=head.last_seq + 1,
        event_id=event.id,
        kind=event.kind.value,
        occurred_at=event.occurred_at,
        recorded_at=utcnow(),
        actor_kind=event.actor.kind.value,
        actor_id=event.actor.id,
        address=origin.address,
        user_agent=origin.user_agent,
        instance_id=event.instance_id,
        outcome=event.outcome.value,
        detail=canonical_detail(event.detail),
        prev_hash=head.last_hash,
        hash="",
    )
    record.hash = record_hash(record)
    return record


def view(row: AuditRecord) -> AuditRecordView:
    """A stored record as callers see it."""
    assert row.position is not None
    origin = None
    if row.address is not None or row.user_agent is not None:
        origin = Origin(address=row.address, user_agent=row.user_agent)
    return AuditRecordView(
        position=row.position,
        user_id=_user_of(row.chain),
        seq=row.seq,
        event_id=row.event_id,
        kind=AuditKind(row.kind),
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        actor=Actor.model_validate({"kind": row.actor_kind, "id": row.actor_id}),
        origin=origin,
        instance_id=row.instance_id,
        outcome=AuditOutcome(row.outcome),
        detail=json.loads(row.detail),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def _user_of(chain: str) -> UUID | None:
    return None if chain == PLATFORM_CHAIN else UUID(chain)
