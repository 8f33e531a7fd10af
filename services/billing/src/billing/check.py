"""Billing's part of the reconciliation check: each user's current subscription against their
instance, as the provisioner (which owns instances) answers over the bus.

Two kinds of drift between them: an entitled subscription whose user has no live instance
(activation creates one; it was lost, or the user destroyed it and has not made another), and a
canceled subscription whose user's instance still runs (the cancel should have paused it).
Neither is corrected here: both need a person to judge, so the check lists them. And one of
billing's own: Stripe events it stored and gave up acting on (parked), each waiting for a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from faststream.nats import NatsBroker

from claudecloud_common.checks import finding, instance_facts, outbox_backlog
from claudecloud_common.contracts.billing import SubscriptionStatus
from claudecloud_common.contracts.instances import InstanceStatus
from claudecloud_common.contracts.ops import (
    FACTS_BATCH,
    CheckBilling,
    CheckReport,
    DriftKind,
    Finding,
    GetInstanceFacts,
    InstanceFact,
)
from claudecloud_common.db import Database
from claudecloud_common.rpc import rpc_reply, rpc_subscriber

from .models import Subscription
from .repository import BillingRepository
from .service import BillingService
from .settings import BillingSettings

FACTS_TIMEOUT_SECONDS = 30.0


class BillingCheck:
    def __init__(self, db: Database, broker: NatsBroker, settings: BillingSettings) -> None:
        self.db = db
        self.broker = broker
        self.settings = settings

    async def run(self, *, fix: bool) -> CheckReport:
        """Compare subscriptions with instances (``fix`` has nothing safe to correct here)."""
        findings: list[Finding] = []
        notes: dict[str, str] = {}
        if self.settings.billing_enabled:
            findings = await self._subscriptions()
        else:
            notes["billing"] = "off (instances are free): no subscriptions to compare"
        async with self.db.read() as session:
            backlog = await outbox_backlog(session, self.settings)
            parked = await BillingRepository(session).parked_events()
        findings.append(
            finding(
                DriftKind.STRIPE_EVENT_PARKED,
                parked,
                detail="billing gave up on these Stripe events (billing.webhook_parked in its log "
                "says why): fix the cause, then resend each from Stripe's dashboard",
            )
        )
        return CheckReport(service="billing", findings=findings, outbox=backlog, notes=notes)

    async def _subscriptions(self) -> list[Finding]:
        async with self.db.read() as session:
            service = BillingService(session, self.settings)
            current = _current(await service.repo.subscriptions())
            entitled = {user for user, sub in current.items() if service.entitled(sub)}
        instances = await self._live_instances(list(current))
        without = [current[u].id for u in sorted(entitled, key=str) if not instances.get(u)]
        canceled = [
            sub.id
            for user, sub in current.items()
            if sub.status is SubscriptionStatus.CANCELED
            and any(f.status is InstanceStatus.RUNNING for f in instances.get(user, []))
        ]
        return [
            finding(
                DriftKind.SUBSCRIPTION_WITHOUT_INSTANCE,
                without,
                detail="its instance was lost or destroyed: the user's next create makes one",
            ),
            finding(
                DriftKind.CANCELED_WITH_RUNNING,
                canceled,
                detail="the cancel did not pause it: pause it, or look for the lost event",
            ),
        ]

    async def _live_instances(self, users: list[UUID]) -> dict[UUID, list[InstanceFact]]:
        """Each user's live instances, as the provisioner says, a batch of users at a time."""
        found: dict[UUID, list[InstanceFact]] = {}
        for start in range(0, len(users), FACTS_BATCH):
            query = GetInstanceFacts(user_ids=users[start : start + FACTS_BATCH])
            for fact in await instance_facts(self.broker, query, timeout=FACTS_TIMEOUT_SECONDS):
                found.setdefault(fact.user_id, []).append(fact)
        return found


def _current(subscriptions: Sequence[Subscription]) -> dict[UUID, Subscription]:
    """Each user's subscription that counts: the newest not canceled, else the newest (as
    :meth:`BillingRepository.current_subscription` picks it)."""
    ordered = sorted(
        subscriptions,
        key=lambda s: (s.status is not SubscriptionStatus.CANCELED, s.created_at),
    )
    return {sub.user_id: sub for sub in ordered}  # the last one per user wins


def register_check(broker: NatsBroker, check: BillingCheck) -> None:
    """Answer ``rpc.ops.check.billing``."""

    @rpc_subscriber(broker, CheckBilling, settings=check.settings)
    @rpc_reply
    async def on_check(query: CheckBilling) -> CheckReport:
        """Each user's current subscription against their instance."""
        return await check.run(fix=query.fix)
