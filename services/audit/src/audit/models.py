"""The audit service's tables: the records, and the head of each user's chain.

Records are only ever inserted (and, past retention, deleted from the oldest end of a chain);
nothing updates one. A chain's head is the one row that changes: it says how far the chain goes
(``last_seq``, ``last_hash``), and from where (``anchor_*``: the last record retention deleted).
Appends to one chain take its head's row lock, so two replicas append one after the other.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import BigInteger, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from claudecloud_common.contracts.base import utcnow
from claudecloud_common.db import UTCDateTime

GENESIS = "0" * 64
"""The hash a chain's first record follows."""
PLATFORM_CHAIN = "platform"
"""The chain of acts that concern no user."""


class AuditChain(SQLModel, table=True):
    __tablename__ = "audit_chains"

    chain: str = Field(primary_key=True, max_length=40)
    """The user's id, or ``platform``."""
    last_seq: int = 0
    last_hash: str = Field(default=GENESIS, max_length=64)
    anchor_seq: int = 0
    """Records up to this one were deleted by retention (0: none)."""
    anchor_hash: str = Field(default=GENESIS, max_length=64)
    """The hash of that last deleted record: the next one follows it."""
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AuditRecord(SQLModel, table=True):
    __tablename__ = "audit_records"
    __table_args__ = (
        UniqueConstraint("chain", "seq", name="uq_audit_records_chain_seq"),
        Index("ix_audit_records_chain_position", "chain", "position"),
    )

    position: int | None = Field(
        default=None,
        primary_key=True,
        sa_type=BigInteger().with_variant(Integer(), "sqlite"),  # SQLite's rowid is 64-bit
    )
    chain: str = Field(max_length=40)
    seq: int
    event_id: UUID = Field(unique=True)
    kind: str = Field(max_length=40)
    occurred_at: datetime = Field(sa_type=UTCDateTime, index=True)
    recorded_at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor_kind: str = Field(max_length=20)
    actor_id: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=300)
    instance_id: UUID | None = None
    outcome: str = Field(max_length=10)
    detail: str = Field(sa_type=Text)
    """The detail as its canonical JSON text: hashed as stored."""
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
