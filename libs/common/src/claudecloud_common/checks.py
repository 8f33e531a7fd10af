"""What every service's reconciliation check shares: its outbox backlog, findings named by a few
sample ids, and asking the provisioner about instances. The rules of each check live in the
service's own ``check.py``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from faststream.nats import NatsBroker
from sqlalchemy import func
from sqlmodel import col, select

from .contracts.base import utcnow
from .contracts.ops import (
    SAMPLES,
    DriftKind,
    Finding,
    GetInstanceFacts,
    InstanceFact,
    OutboxBacklog,
)
from .db import AsyncSession
from .errors import UnavailableError
from .outbox import OutboxMessage
from .rpc import request
from .settings import ServiceSettings

__all__ = ["finding", "instance_facts", "outbox_backlog"]


async def outbox_backlog(session: AsyncSession, settings: ServiceSettings) -> OutboxBacklog:
    """The outbox's rows now, and those older than the relay's grace plus one poll (what the
    relay should have published already: the bus is down, or a row cannot be published)."""
    created = col(OutboxMessage.created_at)
    rows, oldest = (await session.exec(select(func.count(), func.min(created)))).one()
    cutoff = utcnow() - timedelta(
        seconds=settings.outbox_grace_seconds + settings.outbox_poll_seconds
    )
    stale = (await session.exec(select(func.count()).where(created < cutoff))).one()
    age = None
    if oldest is not None:
        if oldest.tzinfo is None:  # SQLite hands back naive UTC
            oldest = oldest.replace(tzinfo=utcnow().tzinfo)
        age = round((utcnow() - oldest).total_seconds(), 1)
    return OutboxBacklog(rows=int(rows), stale=int(stale), oldest_age_seconds=age)


def finding(
    kind: DriftKind,
    ids: Iterable[object],
    *,
    fixable: bool = False,
    fixed: int = 0,
    detail: str | None = None,
) -> Finding:
    """A finding of ``kind`` about ``ids`` (counted; the first few shown)."""
    named = [str(i) for i in ids]
    return Finding(
        kind=kind,
        count=len(named),
        samples=named[:SAMPLES],
        fixable=fixable,
        fixed=fixed,
        detail=detail,
    )


async def instance_facts(
    broker: NatsBroker, query: GetInstanceFacts, *, timeout: float
) -> list[InstanceFact]:
    """The provisioner's answer to ``rpc.ops.instances``; :class:`UnavailableError` naming it
    when it does not answer."""
    try:
        found = await request(broker, query, timeout=timeout)
    except UnavailableError:
        raise UnavailableError(
            f"the provisioner did not answer {query.subject} within {timeout:g}s"
        ) from None
    return found.items
