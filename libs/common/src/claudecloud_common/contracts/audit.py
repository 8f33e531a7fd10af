"""Audit: owned by the audit service (who did what, to whose things, from where).

Every service that sees an act worth recording publishes :class:`AuditRecorded` on
``evt.audit.recorded`` (through its outbox where it has one). The audit service stores each once
(by the event's id), append-only, on the chain of the user it concerns: every record carries the
SHA-256 of the previous record of the same user, so an edited or deleted record is found by
walking the chain (:class:`VerifyAudit`). Acts that concern no user (a failed sign-in with an
unknown link, an operator's platform-wide fix) go on the platform's own chain (``user_id`` None).

A record never carries a secret: a credential's kind, never its value; a clone URL without its
user and password; a path, never a file's content.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .base import Event, Query

__all__ = [
    "MAX_DETAIL_KEYS",
    "MAX_POSITION",
    "Actor",
    "ActorKind",
    "AuditKind",
    "AuditOutcome",
    "AuditPage",
    "AuditRecordView",
    "AuditRecorded",
    "AuditSubject",
    "AuditVerification",
    "ChainProblem",
    "ChainReport",
    "Detail",
    "ListAudit",
    "Origin",
    "ProblemKind",
    "VerifyAudit",
]

MAX_DETAIL_KEYS = 16
MAX_POSITION = 2**63 - 1
"""Positions are 64-bit."""


class AuditSubject(StrEnum):
    RECORDED = "evt.audit.recorded"
    """Something worth recording happened; the audit service appends it to its user's chain."""

    LIST = "rpc.audit.list"
    """A page of one user's records (the gateway asks for the owner), or anyone's (operators)."""
    VERIFY = "rpc.audit.verify"
    """Walk one chain, or every chain, and name each record edited or deleted."""


class AuditKind(StrEnum):
    """What a record is about. A new kind is one member here and one call where it happens."""

    SIGN_IN = "auth.sign_in"
    SIGN_IN_FAILED = "auth.sign_in_failed"
    SIGN_OUT = "auth.sign_out"
    INSTANCE_COMMAND = "instance.command"
    """create, pause, wake or destroy, asked by the user, an operator, billing or activity."""
    TERMINAL_OPENED = "terminal.opened"
    TERMINAL_CLOSED = "terminal.closed"
    CHAT_OPENED = "chat.opened"
    CHAT_CLOSED = "chat.closed"
    FILE_READ = "file.read"
    PROJECT_CLONED = "project.cloned"
    CREDENTIAL_SET = "credential.set"
    CREDENTIAL_CLEARED = "credential.cleared"
    BUDGET_CHANGED = "budget.changed"
    """A spending budget was set, changed or removed (issue 25 publishes it)."""
    WEBHOOK_CREATED = "webhook.created"
    WEBHOOK_DELETED = "webhook.deleted"
    WEBHOOK_ROTATED = "webhook.rotated"
    WEBHOOK_DISABLED = "webhook.disabled"
    DEAD_LETTER_REPLAYED = "operator.dead_letter_replayed"
    CHECK_FIXED = "operator.check_fixed"


class ActorKind(StrEnum):
    """Who acted."""

    USER = "user"
    OPERATOR = "operator"
    """Someone with the operator's key, or ``claude-cloud-admin``."""
    BILLING = "billing"
    """Billing's verdict on a subscription (the provisioner acts on it)."""
    ACTIVITY = "activity"
    """The activity service (idle, the longest run, host memory)."""
    SERVICE = "service"
    """Another part of the platform on its own (``id`` names it)."""
    ANONYMOUS = "anonymous"
    """Nobody known: a sign-in attempt with a link that names no one."""


class AuditOutcome(StrEnum):
    OK = "ok"
    REFUSED = "refused"
    """Asked and refused (an illegal transition, a link already used, ...)."""
    FAILED = "failed"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Actor(_Frozen):
    kind: ActorKind
    id: str | None = Field(default=None, max_length=200)
    """The user's id, the operator's name, or the service's name."""


class Origin(_Frozen):
    """Where an act came from, as the gateway saw it (the nearest hop that is not a trusted
    proxy)."""

    address: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=300)


DetailValue = str | int | float | bool | None
Detail = dict[Annotated[str, StringConstraints(max_length=40)], DetailValue]
"""A few named facts about the act (the command, a path, a duration); never a secret."""


class AuditRecorded(Event):
    """An act to record on ``user_id``'s chain (None: the platform's own)."""

    type: Literal["audit.recorded"] = "audit.recorded"
    subject: ClassVar[AuditSubject] = AuditSubject.RECORDED
    user_id: UUID | None
    kind: AuditKind
    actor: Actor
    origin: Origin | None = None
    instance_id: UUID | None = None
    outcome: AuditOutcome = AuditOutcome.OK
    detail: Detail = Field(default_factory=dict, max_length=MAX_DETAIL_KEYS)


# Queries (request-reply): the answer first, then the query that names it


class AuditRecordView(_Frozen):
    """One stored record, as it is chained."""

    position: int
    """Its place among every record stored (pages run on it)."""
    user_id: UUID | None
    seq: int
    """Its place on its user's chain, from 1 (or after the retention's anchor)."""
    event_id: UUID
    kind: AuditKind
    occurred_at: datetime
    recorded_at: datetime
    actor: Actor
    origin: Origin | None = None
    instance_id: UUID | None = None
    outcome: AuditOutcome
    detail: Detail = Field(default_factory=dict)
    prev_hash: str
    hash: str


class AuditPage(_Frozen):
    items: list[AuditRecordView]
    next_before: int | None = None
    """Ask again with ``before`` this for the next (older) page; None: that was the last."""


class ListAudit(Query[AuditPage]):
    """Records, newest first: one user's (``user_id``), the platform's own (``platform``), or
    everyone's (neither: operators only), narrowed by kind and by when they happened."""

    subject: ClassVar[AuditSubject] = AuditSubject.LIST
    user_id: UUID | None = None
    platform: bool = False
    kinds: list[AuditKind] = Field(default_factory=list, max_length=len(AuditKind))
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = Field(default=None, ge=1, le=MAX_POSITION)
    limit: int = Field(default=100, ge=1, le=500)


ProblemKind = Literal["edited", "missing", "relinked", "head"]
"""``edited``: its content no longer matches its hash; ``missing``: records were deleted before
it (a gap in the sequence); ``relinked``: it does not follow the record before it (one was
deleted or replaced); ``head``: the chain ends before its last record (the newest deleted)."""


class ChainProblem(_Frozen):
    seq: int | None
    event_id: UUID | None = None
    problem: ProblemKind
    detail: str


class ChainReport(_Frozen):
    user_id: UUID | None
    records: int
    first_seq: int | None = None
    last_seq: int | None = None
    anchor_seq: int = 0
    """Records up to this one were deleted by retention; the chain starts from its hash."""
    problems: list[ChainProblem] = Field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


class AuditVerification(_Frozen):
    chains: int
    """Chains walked."""
    records: int
    broken: int
    """Chains with at least one problem."""
    reports: list[ChainReport] = Field(default_factory=list)
    """Every chain with a problem; asked about one chain, that chain whatever it found."""


class VerifyAudit(Query[AuditVerification]):
    """Walk ``user_id``'s chain (``platform``: the platform's), or every chain (neither)."""

    subject: ClassVar[AuditSubject] = AuditSubject.VERIFY
    user_id: UUID | None = None
    platform: bool = False
