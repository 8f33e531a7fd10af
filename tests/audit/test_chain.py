"""The hash chain as pure functions: a record's hash covers every field it stores, and a walk
names what was edited, deleted or replaced, by its place on the chain."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from audit.chain import Walk, canonical_detail, record_hash
from audit.models import GENESIS, AuditRecord

pytestmark = pytest.mark.unit

USER = uuid.UUID("6f1c2a3e-8b4d-4e5f-9a0b-1c2d3e4f5a6b")
AT = datetime(2026, 3, 2, 9, 30, 0, 123456, tzinfo=UTC)


def chain(length: int) -> list[AuditRecord]:
    """``length`` records chained as the service chains them."""
    made: list[AuditRecord] = []
    previous = GENESIS
    for seq in range(1, length + 1):
        record = AuditRecord(
            position=seq,
            chain=str(USER),
            seq=seq,
            event_id=uuid.uuid4(),
            kind="file.read",
            occurred_at=AT + timedelta(seconds=seq),
            recorded_at=AT + timedelta(seconds=seq, microseconds=7),
            actor_kind="user",
            actor_id=str(USER),
            address="203.0.113.7",
            user_agent="curl/8",
            instance_id=None,
            outcome="ok",
            detail=canonical_detail({"path": f"notes/{seq}.md", "status": 200}),
            prev_hash=previous,
            hash="",
        )
        record.hash = record_hash(record)
        previous = record.hash
        made.append(record)
    return made


def walked(
    records: list[AuditRecord],
    *,
    last: AuditRecord | None = None,
    anchor: int = 0,
    anchor_hash: str = GENESIS,
) -> list[tuple[str, int | None]]:
    head = last or records[-1]
    walk = Walk(USER, anchor, anchor_hash, head.seq, head.hash)
    for record in records:
        walk.see(record)
    return [(p.problem, p.seq) for p in walk.report().problems]


def test_an_untouched_chain_is_intact_and_every_field_is_in_the_hash() -> None:
    records = chain(4)
    assert walked(records) == []
    for field, value in [
        ("detail", canonical_detail({"path": "secrets.txt", "status": 200})),
        ("address", "198.51.100.1"),
        ("occurred_at", AT),
        ("recorded_at", AT),
        ("actor_id", "someone-else"),
        ("kind", "credential.set"),
        ("outcome", "refused"),
        ("user_agent", None),
    ]:
        changed = chain(1)[0]
        before = changed.hash
        setattr(changed, field, value)
        assert record_hash(changed) != before, field


def test_the_hash_is_the_same_for_the_same_moment_however_it_is_zoned() -> None:
    [record] = chain(1)
    before = record.hash
    record.occurred_at = record.occurred_at.astimezone(datetime.now().astimezone().tzinfo)
    assert record_hash(record) == before


def test_an_edited_record_is_named_and_nothing_after_it_is_blamed() -> None:
    records = chain(5)
    records[2].detail = canonical_detail({"path": "innocent.md", "status": 200})
    assert walked(records) == [("edited", 3)]


def test_an_edited_record_whose_hash_was_recomputed_breaks_the_link_to_the_next() -> None:
    records = chain(5)
    records[2].address = "198.51.100.1"
    records[2].hash = record_hash(records[2])
    assert walked(records) == [("relinked", 4)]


def test_deleted_records_are_named_by_their_places() -> None:
    records = chain(6)
    assert walked([*records[:2], *records[4:]]) == [("missing", 3)]
    assert walked(records[:4], last=records[-1]) == [("head", 5)]  # the newest two deleted
    assert walked(records[1:], last=records[-1]) == [("missing", 1)]


def test_the_newest_record_replaced_is_caught_by_the_head() -> None:
    records = chain(3)
    real_last = records[-1]
    forged = chain(3)[-1]
    forged.prev_hash = records[1].hash
    forged.hash = record_hash(forged)
    assert walked([*records[:2], forged], last=real_last) == [("head", 3)]


def test_a_chain_cut_by_retention_is_walked_from_its_anchor() -> None:
    records = chain(6)
    anchor = records[2]
    assert walked(records[3:], anchor=3, anchor_hash=anchor.hash) == []
    assert walked(records[3:], anchor=3, anchor_hash=GENESIS) == [("relinked", 4)]
