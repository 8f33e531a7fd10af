"""Operations: the reconciliation check every service answers, and the facts it shares.

``claude-cloud-admin check`` asks each service ``rpc.ops.check.<service>``; the service compares
its own records with reality (its vendor, and the records of the service they depend on, asked
over the bus in pages) and answers with counts and a few sample ids per kind of drift. With
``fix`` it applies the safe corrections itself, in its own transactions, announced through its
outbox. Nobody reads another service's database.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from .base import Query
from .instances import InstanceStatus
from .providers import ProviderKind

__all__ = [
    "CHECKED_SERVICES",
    "CHECKS",
    "CheckActivity",
    "CheckAudit",
    "CheckBilling",
    "CheckNetbird",
    "CheckProvisioner",
    "CheckReport",
    "CheckWebhooks",
    "DriftKind",
    "Finding",
    "GetInstanceFacts",
    "InstanceFact",
    "InstanceFacts",
    "OpsSubject",
    "OutboxBacklog",
    "RunCheck",
    "check_query",
]

SAMPLES = 5
"""Ids shown per kind of drift; the count says how many there are."""
FACTS_BATCH = 500
"""Ids per ``rpc.ops.instances`` request (a NATS message holds them with room to spare)."""


class OpsSubject(StrEnum):
    CHECK_PROVISIONER = "rpc.ops.check.provisioner"
    CHECK_BILLING = "rpc.ops.check.billing"
    CHECK_ACTIVITY = "rpc.ops.check.activity"
    CHECK_NETBIRD = "rpc.ops.check.netbird"
    CHECK_AUDIT = "rpc.ops.check.audit"
    CHECK_WEBHOOKS = "rpc.ops.check.webhooks"
    INSTANCE_FACTS = "rpc.ops.instances"
    """The provisioner's instances by id or by owner, for the other services' checks."""


class DriftKind(StrEnum):
    """Each kind of disagreement the check looks for."""

    MACHINE_WITHOUT_ROW = "machine_without_row"
    """A machine this deployment made (container, server) whose instance is not live."""
    ROW_WITHOUT_MACHINE = "row_without_machine"
    """A ``running`` instance whose machine is stopped or gone."""
    STUCK_TRANSITION = "stuck_transition"
    """An instance in provisioning/pausing/waking/destroying past its timeout."""
    AGENT_NOT_ANSWERING = "agent_not_answering"
    """A ``running`` instance whose agent does not answer."""
    USAGE_OPEN_ON_STOPPED = "usage_open_on_stopped"
    """Activity meters an instance (its usage interval is open) that does not run."""
    RUNNING_NOT_METERED = "running_not_metered"
    """A running instance activity does not follow (no idle pause, no usage)."""
    MESH_WITHOUT_INSTANCE = "mesh_without_instance"
    """Netbird resources (group, key, route, policy) whose instance is not live."""
    SUBSCRIPTION_WITHOUT_INSTANCE = "subscription_without_instance"
    """An entitled subscription whose user has no live instance."""
    CANCELED_WITH_RUNNING = "canceled_with_running"
    """A canceled subscription whose user's instance still runs."""
    STRIPE_EVENT_PARKED = "stripe_event_parked"
    """A Stripe event billing stored and gave up acting on (its tries used up, or it cannot be
    used): it waits for a person."""
    AUDIT_CHAIN_BROKEN = "audit_chain_broken"
    """A user's audit chain with a record edited or deleted (``claude-cloud-admin audit verify``
    names each)."""
    WEBHOOK_DELIVERY_OVERDUE = "webhook_delivery_overdue"
    """A webhook delivery whose next try is long past due: no replica is delivering."""
    OUTBOX_BACKLOG = "outbox_backlog"
    """Events committed but not published past the relay's grace (the age is in the report)."""
    DEAD_LETTERS = "dead_letters"
    """Messages dead-lettered on ``dlq.<subject>`` (counted by the admin from the DLQ stream)."""
    SERVICE_UNANSWERED = "service_unanswered"
    """A service that did not answer the check in time (or failed while checking)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Finding(_Frozen):
    """One kind of drift a service found: how many, a few ids, and what ``fix`` corrected."""

    kind: DriftKind
    count: int = Field(ge=0)
    samples: list[str] = Field(default_factory=list)
    fixable: bool = False
    fixed: int = Field(default=0, ge=0)
    detail: str | None = None


class OutboxBacklog(_Frozen):
    rows: int = Field(ge=0)
    """Rows in the outbox now (fresh ones are normal: the relay publishes them at once)."""
    stale: int = Field(ge=0)
    """Rows older than the relay's grace plus one poll: these are the backlog."""
    oldest_age_seconds: float | None = None


class CheckReport(_Frozen):
    service: str
    findings: list[Finding] = Field(default_factory=list)
    outbox: OutboxBacklog
    notes: dict[str, str] = Field(default_factory=dict)
    """What the reader needs besides the counts (``provider``, ``billing``: ``off``)."""


class InstanceFact(_Frozen):
    instance_id: UUID
    user_id: UUID
    status: InstanceStatus
    provider: ProviderKind


class InstanceFacts(_Frozen):
    items: list[InstanceFact]


class GetInstanceFacts(Query[InstanceFacts]):
    """The provisioner's instances by id, by owner, or a page of every live one."""

    subject: ClassVar[OpsSubject] = OpsSubject.INSTANCE_FACTS
    instance_ids: list[UUID] = Field(default_factory=list, max_length=FACTS_BATCH)
    user_ids: list[UUID] = Field(default_factory=list, max_length=FACTS_BATCH)
    running_after: UUID | None = None
    """With ``running_page``: the running instances after this id, in id order."""
    running_page: bool = False


class RunCheck(Query[CheckReport]):
    """Ask a service to check its records; ``fix`` applies the safe corrections. Each service
    answers on its own subject: ask it with its own subclass (:func:`check_query`)."""

    fix: bool = False


class CheckProvisioner(RunCheck):
    subject: ClassVar[OpsSubject] = OpsSubject.CHECK_PROVISIONER


class CheckBilling(RunCheck):
    subject: ClassVar[OpsSubject] = OpsSubject.CHECK_BILLING


class CheckActivity(RunCheck):
    subject: ClassVar[OpsSubject] = OpsSubject.CHECK_ACTIVITY


class CheckNetbird(RunCheck):
    subject: ClassVar[OpsSubject] = OpsSubject.CHECK_NETBIRD


class CheckAudit(RunCheck):
    subject: ClassVar[OpsSubject] = OpsSubject.CHECK_AUDIT


class CheckWebhooks(RunCheck):
    subject: ClassVar[OpsSubject] = OpsSubject.CHECK_WEBHOOKS


CHECKS: dict[str, type[RunCheck]] = {
    "provisioner": CheckProvisioner,
    "billing": CheckBilling,
    "activity": CheckActivity,
    "netbird": CheckNetbird,
    "audit": CheckAudit,
    "webhooks": CheckWebhooks,
}
"""Every service that answers the check, with its query."""
CHECKED_SERVICES: tuple[str, ...] = tuple(CHECKS)
"""Every service that answers the check, in the order the table lists them."""


def check_query(service: str, *, fix: bool = False) -> RunCheck:
    """The check ``service`` answers (on ``rpc.ops.check.<service>``)."""
    return CHECKS[service](fix=fix)
