"""The audit service on a real NATS and PostgreSQL: events appended once to their user's chain
(redeliveries and racing replicas included), read back by user, kind and time, a page at a time,
retention that keeps the chain verifiable, and a row edited behind its back named by the walk and
by the reconciliation check."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from nats.aio.client import Client as NatsClient

from audit.app import Retention, build
from audit.settings import AuditSettings
from claudecloud_common.contracts.audit import AuditKind
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.ops import CheckAudit
from claudecloud_common.rpc import request_on
from tests.support import eventually

from .conftest import Replica, drained, publish, recorded, records, settled, sql, verify


async def test_each_event_is_recorded_once_on_its_users_chain_linked_to_the_one_before(
    bus: NatsClient, replica: Replica
) -> None:
    ada, bob = uuid.uuid4(), uuid.uuid4()
    events = [recorded(ada, path="a.md"), recorded(bob, path="b.md"), recorded(ada, path="c.md")]
    async with replica():
        for event in events:
            await publish(bus, event)
        await publish(bus, events[0], message_id="redelivered-later")  # past JetStream's window
        page = await settled(bus, ada, 2)
        await settled(bus, bob, 1)
        await drained(bus)
        again = await records(bus, ada)
    assert sorted(str(r.detail["path"]) for r in again.items) == ["a.md", "c.md"]  # once each
    newest, oldest = page.items
    assert [oldest.seq, newest.seq] == [1, 2]
    assert newest.prev_hash == oldest.hash
    assert {r.event_id for r in page.items} == {events[0].id, events[2].id}


async def test_two_replicas_appending_for_one_user_at_once_leave_one_unbroken_chain(
    bus: NatsClient, replica: Replica
) -> None:
    user = uuid.uuid4()
    events = [recorded(user, n=n) for n in range(60)]
    async with replica(), replica():
        await asyncio.gather(*(publish(bus, event) for event in events))
        page = await settled(bus, user, 60)
        found = await verify(bus, user)
    assert sorted(r.seq for r in page.items) == list(range(1, 61))
    assert found.broken == 0, found
    assert found.reports[0].records == 60


async def test_records_are_read_by_kind_and_time_a_page_at_a_time(
    bus: NatsClient, replica: Replica
) -> None:
    user = uuid.uuid4()
    start = utcnow()
    kinds = [AuditKind.SIGN_IN, AuditKind.FILE_READ, AuditKind.FILE_READ, AuditKind.SIGN_OUT]
    events = [
        recorded(user, kind).model_copy(update={"occurred_at": start + timedelta(minutes=n)})
        for n, kind in enumerate(kinds)
    ]
    async with replica():
        for event in events:
            await publish(bus, event)
        await settled(bus, user, 4)
        reads = await records(bus, user, kinds=[AuditKind.FILE_READ])
        later = await records(bus, user, since=start + timedelta(minutes=2))
        first = await records(bus, user, limit=3)
        rest = await records(bus, user, limit=3, before=first.next_before)
        platform = await records(bus, None, platform=True, kinds=[AuditKind.SIGN_IN])
    assert [r.kind for r in reads.items] == [AuditKind.FILE_READ, AuditKind.FILE_READ]
    assert sorted(r.kind for r in later.items) == [AuditKind.SIGN_OUT, AuditKind.FILE_READ]
    both = first.items + rest.items  # newest first: the order they went on the chain
    assert [r.seq for r in both] == [4, 3, 2, 1]
    assert sorted(r.kind for r in both) == sorted(kinds)
    assert rest.next_before is None
    assert all(r.user_id is None for r in platform.items)  # the platform's chain, not the user's


async def test_an_edited_row_is_named_by_the_walk_and_by_the_check(
    bus: NatsClient, replica: Replica, audit_db: str
) -> None:
    user = uuid.uuid4()
    async with replica():
        for path in ("one.md", "two.md", "three.md"):
            await publish(bus, recorded(user, path=path))
        page = await settled(bus, user, 3)
        intact = await verify(bus, user)
        edited = next(r for r in page.items if r.seq == 2)
        await sql(
            audit_db,
            "UPDATE audit_records SET detail = :detail WHERE event_id = :id",
            detail='{"path":"nothing-to-see.md"}',
            id=edited.event_id,
        )
        broken = await verify(bus, user)
        everyone = await verify(bus)
        check = await request_on(bus, CheckAudit(), timeout=30)
    assert intact.broken == 0
    [report] = broken.reports
    [problem] = report.problems
    assert (problem.problem, problem.seq, problem.event_id) == ("edited", 2, edited.event_id)
    assert str(user) in {str(r.user_id) for r in everyone.reports}
    [found] = [f for f in check.findings if f.kind == "audit_chain_broken"]
    assert found.count >= 1
    assert str(user) in found.samples or found.count > len(found.samples)


async def test_retention_deletes_the_oldest_and_the_chain_still_verifies_from_its_anchor(
    bus: NatsClient, replica: Replica, audit_db: str
) -> None:
    user = uuid.uuid4()
    async with replica() as settings:
        for n in range(5):
            await publish(bus, recorded(user, n=n))
        page = await settled(bus, user, 5)
        old = [r.event_id for r in page.items if r.seq <= 3]
        # Three of them recorded long ago (as if the service had run for a year).
        await sql(
            audit_db,
            "UPDATE audit_records SET recorded_at = :at WHERE event_id = ANY(:ids)",
            at=utcnow() - timedelta(days=500),
            ids=old,
        )
        # Their hashes no longer match what they hold: deleting them is exactly what retention
        # may do, and it keeps the last one's stored hash, so the rest still verifies.
        parts = build(AuditSettings(**(settings.model_dump() | {"retention_days": 400})))
        try:
            deleted = await Retention(parts.db, parts.settings).run_once()
        finally:
            await parts.db.dispose()
        left = await records(bus, user)
        found = await verify(bus, user)
        await publish(bus, recorded(user, n=5))
        await settled(bus, user, 3)
        after = await verify(bus, user)
    assert deleted >= 3
    assert sorted(r.seq for r in left.items) == [4, 5]
    assert found.broken == 0, found
    assert found.reports[0].anchor_seq == 3
    assert after.broken == 0
    assert after.reports[0].last_seq == 6


async def test_a_deleted_row_is_named_by_its_place(
    bus: NatsClient, replica: Replica, audit_db: str
) -> None:
    user = uuid.uuid4()
    async with replica():
        for n in range(4):
            await publish(bus, recorded(user, n=n))
        page = await settled(bus, user, 4)
        gone = next(r for r in page.items if r.seq == 2)
        await sql(audit_db, "DELETE FROM audit_records WHERE event_id = :id", id=gone.event_id)

        async def named() -> object:
            found = await verify(bus, user)
            return found.reports[0].problems if found.broken else None

        problems = await eventually(named, what="the deleted record named")
    assert [(p.problem, p.seq) for p in problems] == [("missing", 2)]
