"""Billing's bus edge: the checkout, portal, status and plans queries, and usage samples.

Each Stripe call sits between transactions, never inside one, and carries an idempotency key
derived from what caused it (the user for a customer, the request id for a session, the sample id
for a meter event), so a retry never creates or charges twice.
"""

from __future__ import annotations

from typing import Any

from faststream.nats import NatsBroker

from claudecloud_common.bus import event_subscriber
from claudecloud_common.contracts.activity import ActivitySubject, UsageKind, UsageSample
from claudecloud_common.contracts.billing import (
    BillingStatus,
    CheckoutSession,
    GetBillingStatus,
    ListPlans,
    OpenPortal,
    PlanList,
    PortalSession,
    StartCheckout,
)
from claudecloud_common.contracts.spend import (
    BudgetView,
    ClaudeSpendReported,
    ClearBudget,
    GetBudget,
    GetUsage,
    SetBudget,
    SpendSubject,
    UsageSeries,
)
from claudecloud_common.db import Database
from claudecloud_common.logging import bind_correlation, describe_error, get_logger
from claudecloud_common.rpc import rpc_reply, rpc_subscriber
from claudecloud_common.telemetry import get_tracer

from .errors import (
    AlreadySubscribed,
    BillingDisabled,
    NoSubscription,
    StripeRefused,
    StripeUnavailable,
)
from .models import UsageEntry
from .rules import Seen
from .service import BillingService
from .settings import BillingSettings
from .spend import SpendService
from .stripe_api import StripeApi

log = get_logger(__name__)
TRACER = get_tracer(__name__)


class Billing:
    """The handlers' shared parts and the work that spans a Stripe call."""

    def __init__(self, db: Database, api: StripeApi, settings: BillingSettings) -> None:
        self.db = db
        self.api = api
        self.settings = settings

    def service(self, session: Any) -> BillingService:
        return BillingService(session, self.settings)

    def spend(self, session: Any) -> SpendService:
        return SpendService(session, self.settings)

    async def checkout(self, query: StartCheckout) -> CheckoutSession:
        attributes = {"user.id": str(query.user_id), "billing.plan": query.plan}
        with TRACER.start_as_current_span("billing.checkout", attributes=attributes):
            return await self._checkout(query)

    async def _checkout(self, query: StartCheckout) -> CheckoutSession:
        async with self.db.read() as session:
            service = self.service(session)
            plan = service.require_plan(query.plan)
            current = await service.current_subscription(query.user_id)
            if current is not None and service.entitled(current):
                raise AlreadySubscribed(
                    f"you already have the {current.plan} plan ({current.status.value}); "
                    "change or cancel it in the billing portal"
                )
            customer = await service.customer(query.user_id)
        stripe_id = customer.stripe_customer_id if customer else await self._new_customer(query)
        session_id, url = await self.api.create_checkout(
            customer=stripe_id,
            user_id=query.user_id,
            plan=query.plan,
            price_id=plan.price_id,
            success_url=query.success_url,
            cancel_url=query.cancel_url,
            key=f"checkout-{query.request_id}",
        )
        log.info("billing.checkout_opened", user_id=str(query.user_id), plan=query.plan)
        return CheckoutSession(session_id=session_id, url=url)

    async def _new_customer(self, query: StartCheckout) -> str:
        stripe_id = await self.api.create_customer(query.user_id, query.email)
        async with self.db.transaction() as session:
            await self.service(session).remember_customer(query.user_id, stripe_id, query.email)
        return stripe_id

    async def portal(self, query: OpenPortal) -> PortalSession:
        if not self.settings.billing_enabled:
            raise BillingDisabled("billing is off on this deployment: instances are free")
        async with self.db.read() as session:
            customer = await self.service(session).customer(query.user_id)
        if customer is None:
            raise NoSubscription("you have no subscription yet: choose a plan first")
        url = await self.api.create_portal(
            customer=customer.stripe_customer_id,
            return_url=query.return_url,
            key=f"portal-{query.request_id}",
        )
        return PortalSession(url=url)

    async def add_usage(self, sample: UsageSample) -> None:
        async with self.db.transaction() as session:
            entry = await self.service(session).add_usage(sample)
            seen = Seen(sample.instance_id, running=sample.kind is UsageKind.RUNNING)
            await self.spend(session).evaluate_if_budgeted(sample.user_id, seen)
        if entry is None:
            return
        try:
            await self.report(entry)
        except (StripeUnavailable, StripeRefused) as exc:
            # In the ledger already, marked unreported: the sweeper sends it when Stripe answers.
            log.warning(
                "billing.usage_report_deferred",
                sample_id=str(entry.sample_id),
                error=describe_error(exc),
            )

    async def report(self, entry: UsageEntry) -> None:
        """Send one entry's overage to the Stripe meter, then note it was sent."""
        if entry.stripe_customer_id is None:
            return
        await self.api.report_usage(
            customer=entry.stripe_customer_id,
            seconds=entry.overage_seconds,
            identifier=str(entry.sample_id),
            at=entry.recorded_at,
        )
        async with self.db.transaction() as session:
            await self.service(session).usage_reported(entry.sample_id)
        log.info("billing.usage_reported", sample_id=str(entry.sample_id))

    async def add_claude_spend(self, report: ClaudeSpendReported) -> None:
        async with self.db.transaction() as session:
            spend = self.spend(session)
            if await spend.record_claude(report):
                # Claude at work: the instance was running.
                await spend.evaluate_if_budgeted(report.user_id, Seen(report.instance_id, True))

    async def meter_claude(self, limit: int = 100) -> int:
        """Send the growth of platform-paid Claude spend to its meter (whole cents); how many
        rows were sent. The identifier names the total reached, so a retry is a no-op."""
        async with self.db.read() as session:
            rows = await self.service(session).repo.unmetered_claude(limit)
        for row in rows:
            cents = int(row.cost_usd * 100)
            assert row.stripe_customer_id is not None  # the query's condition
            await self.api.report_meter(
                event_name=self.settings.claude_meter_event_name,
                customer=row.stripe_customer_id,
                value=cents - row.metered_cents,
                identifier=f"claude-{row.instance_id}-{row.day}-{row.source.value}-{cents}",
                at=row.updated_at,
            )
            async with self.db.transaction() as session:
                await self.service(session).repo.claude_metered(row, cents)
        return len(rows)


def register(broker: NatsBroker, billing: Billing) -> None:
    """Attach billing's subscribers to ``broker``."""
    settings = billing.settings

    @rpc_subscriber(broker, StartCheckout, settings=settings)
    @rpc_reply
    async def on_checkout(query: StartCheckout) -> CheckoutSession:
        """A Stripe Checkout Session for a plan (the customer made first if needed)."""
        return await billing.checkout(query)

    @rpc_subscriber(broker, OpenPortal, settings=settings)
    @rpc_reply
    async def on_portal(query: OpenPortal) -> PortalSession:
        """A Stripe Billing Portal session: cancel, change plan, update the card, invoices."""
        return await billing.portal(query)

    @rpc_subscriber(broker, GetBillingStatus, settings=settings)
    @rpc_reply
    async def on_status(query: GetBillingStatus) -> BillingStatus:
        """Plan, status, period and hours used of one user."""
        async with billing.db.read() as session:
            return await billing.service(session).status(query.user_id)

    @rpc_subscriber(broker, ListPlans, settings=settings)
    @rpc_reply
    async def on_plans(_query: ListPlans) -> PlanList:
        """The plans on offer."""
        async with billing.db.read() as session:
            return billing.service(session).plans()

    @rpc_subscriber(broker, GetUsage, settings=settings)
    @rpc_reply
    async def on_usage_series(query: GetUsage) -> UsageSeries:
        """A user's hours and Claude's spend per UTC day, with the period's projection."""
        async with billing.db.read() as session:
            return await billing.spend(session).usage(query)

    @rpc_subscriber(broker, GetBudget, settings=settings)
    @rpc_reply
    async def on_budget(query: GetBudget) -> BudgetView:
        """A user's budget, what it covers so far this period, and the alerts sent."""
        async with billing.db.read() as session:
            return await billing.spend(session).budget(query.user_id)

    @rpc_subscriber(broker, SetBudget, settings=settings)
    @rpc_reply
    async def on_set_budget(query: SetBudget) -> BudgetView:
        """Set or change a budget; evaluated at once (alerts, the hard stop, or its lifting)."""
        async with billing.db.transaction() as session:
            spend = billing.spend(session)
            return await spend.set_budget(query.user_id, query.monthly_limit_usd, query.hard_stop)

    @rpc_subscriber(broker, ClearBudget, settings=settings)
    @rpc_reply
    async def on_clear_budget(query: ClearBudget) -> BudgetView:
        """Remove a budget; what its hard stop paused is woken."""
        async with billing.db.transaction() as session:
            return await billing.spend(session).clear_budget(query.user_id)

    @event_subscriber(broker, SpendSubject.CLAUDE_SPEND, settings=settings)
    async def on_claude_spend(report: ClaudeSpendReported) -> None:
        """Keep the larger of Claude's daily totals; evaluate the user's budget."""
        with bind_correlation(report.correlation_id, instance_id=str(report.instance_id)):
            await billing.add_claude_spend(report)

    @event_subscriber(broker, ActivitySubject.USAGE, settings=settings)
    async def on_usage(sample: UsageSample) -> None:
        """Add an active interval to the user's ledger once; report overage to the meter."""
        with bind_correlation(sample.correlation_id, sample_id=str(sample.sample_id)):
            await billing.add_usage(sample)
