"""The hash chain, as pure functions: how a record is serialised and hashed, and how a chain is
walked to name what was edited or deleted. No I/O here; the service feeds it rows.

A record's hash is SHA-256 over a versioned prefix and the canonical JSON of every stored field
but its own hash and its storage position (keys sorted, no spaces, ASCII only, timestamps in UTC
with microseconds): the same bytes from PostgreSQL and SQLite alike. The previous record's hash is
one of those fields, so changing any record changes every hash after it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from claudecloud_common.contracts.audit import ChainProblem, ChainReport, Detail, ProblemKind

__all__ = [
    "HASH_PREFIX",
    "Chained",
    "Walk",
    "canonical_detail",
    "record_hash",
    "timestamp",
]

HASH_PREFIX = b"claudecloud-audit-v1\n"


class Chained(Protocol):
    """What a stored record offers the chain (the table's row, or anything shaped like it)."""

    chain: str
    seq: int
    event_id: UUID
    kind: str
    occurred_at: datetime
    recorded_at: datetime
    actor_kind: str
    actor_id: str | None
    address: str | None
    user_agent: str | None
    instance_id: UUID | None
    outcome: str
    detail: str
    prev_hash: str
    hash: str


def timestamp(moment: datetime) -> str:
    """A moment as the chain writes it: UTC, microseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_detail(detail: Detail) -> str:
    """The detail as stored and hashed: keys sorted, no spaces, ASCII only."""
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), allow_nan=False)


def record_hash(record: Chained) -> str:
    """The hash ``record`` should carry, from what it holds (its own ``hash`` left out)."""
    fields: dict[str, Any] = {
        "chain": record.chain,
        "seq": record.seq,
        "event_id": str(record.event_id),
        "kind": record.kind,
        "occurred_at": timestamp(record.occurred_at),
        "recorded_at": timestamp(record.recorded_at),
        "actor_kind": record.actor_kind,
        "actor_id": record.actor_id,
        "address": record.address,
        "user_agent": record.user_agent,
        "instance_id": str(record.instance_id) if record.instance_id else None,
        "outcome": record.outcome,
        "detail": record.detail,
        "prev_hash": record.prev_hash,
    }
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(HASH_PREFIX + text.encode()).hexdigest()


@dataclass
class Walk:
    """One chain walked in order, a record at a time (:meth:`see`), then :meth:`report`.

    ``anchor_seq``/``anchor_hash`` are where the chain starts (what retention deleted last, or
    nothing); ``last_seq``/``last_hash`` where its head says it ends.
    """

    user_id: UUID | None
    anchor_seq: int
    anchor_hash: str
    last_seq: int
    last_hash: str
    records: int = 0
    first_seq: int | None = None
    problems: list[ChainProblem] = field(default_factory=list)
    _seq: int = 0
    _hash: str = ""
    _kind: str | None = None

    def __post_init__(self) -> None:
        self._seq, self._hash = self.anchor_seq, self.anchor_hash

    def see(self, record: Chained) -> None:
        """The next record of the chain, in ``seq`` order."""
        self.records += 1
        if self.first_seq is None:
            self.first_seq = record.seq
        if record.hash != record_hash(record):
            self._problem(
                record.seq,
                record.event_id,
                "edited",
                f"record {record.seq} ({record.kind}) no longer matches its hash: it was changed",
            )
        elif record.seq > self._seq + 1:
            gap = _span(self._seq + 1, record.seq - 1)
            self._problem(self._seq + 1, None, "missing", f"{gap} missing: deleted")
        elif record.prev_hash != self._hash:
            before = f"record {self._seq}" if self._seq > self.anchor_seq else "the anchor"
            self._problem(
                record.seq,
                record.event_id,
                "relinked",
                f"record {record.seq} "
                f"({record.kind}) does not follow {before}: one of them was replaced",
            )
        self._seq, self._hash, self._kind = record.seq, record.hash, record.kind

    def report(self) -> ChainReport:
        """What the walk found, the head's promise included."""
        if self.last_seq > self._seq:
            gap = _span(self._seq + 1, self.last_seq)
            self._problem(self._seq + 1, None, "head", f"{gap} missing: the newest deleted")
        elif self.last_seq < self._seq:
            gap = _span(self.last_seq + 1, self._seq)
            self._problem(self.last_seq + 1, None, "head", f"{gap} past the chain's head: added")
        elif self.last_seq == self._seq and self.last_hash != self._hash and self._seq:
            self._problem(
                self._seq,
                None,
                "head",
                f"record {self._seq} ({self._kind}) is "
                "not the one the chain's head recorded: it was replaced",
            )
        return ChainReport(
            user_id=self.user_id,
            records=self.records,
            first_seq=self.first_seq,
            last_seq=self._seq if self.records else None,
            anchor_seq=self.anchor_seq,
            problems=self.problems,
        )

    def _problem(self, seq: int, event_id: UUID | None, kind: ProblemKind, detail: str) -> None:
        self.problems.append(ChainProblem(seq=seq, event_id=event_id, problem=kind, detail=detail))


def _span(first: int, last: int) -> str:
    return f"record {first} is" if first == last else f"records {first} to {last} are"
