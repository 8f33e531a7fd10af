"""Billing's rules. Never commits and never calls Stripe: the edges (bus handlers, the webhook,
the sweeper) own the transactions and make the Stripe calls between them.

A subscription is synced from Stripe's *current* object, never from an event's snapshot alone,
so events arriving in any order leave the newest state; ``canceled`` is final on top of that.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from claudecloud_common.contracts.activity import UsageKind, UsageSample
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.billing import (
    ENTITLED_STATUSES,
    BillingStatus,
    PlanList,
    SubscriptionActivated,
    SubscriptionCanceled,
    SubscriptionPastDue,
    SubscriptionStatus,
    SubscriptionUpdated,
)
from claudecloud_common.db import AsyncSession
from claudecloud_common.logging import get_logger
from claudecloud_common.outbox import add_to_outbox

from .errors import BillingDisabled, UnknownPlan, UnusableEvent
from .models import BillingPeriod, Customer, StripeEvent, Subscription, UsageEntry
from .repository import BillingRepository
from .rules import reached
from .settings import BillingSettings, Plan
from .stripe_api import StripeSubscription, WebhookEvent

log = get_logger(__name__)

S = SubscriptionStatus
Kind = type[
    SubscriptionActivated | SubscriptionUpdated | SubscriptionCanceled | SubscriptionPastDue
]
HOUR = 3600.0


class BillingService:
    def __init__(self, session: AsyncSession, settings: BillingSettings) -> None:
        self.session = session
        self.settings = settings
        self.repo = BillingRepository(session)

    # Queries

    def plans(self) -> PlanList:
        return PlanList(items=[plan.view(name) for name, plan in self.settings.plans.items()])

    def require_plan(self, name: str) -> Plan:
        if not self.settings.billing_enabled:
            raise BillingDisabled("billing is off on this deployment: instances are free")
        plan = self.settings.plan(name)
        if plan is None:
            known = ", ".join(self.settings.plans)
            raise UnknownPlan(f"no plan {name!r}; choose one of {known}")
        return plan

    async def status(self, user_id: UUID) -> BillingStatus:
        if not self.settings.billing_enabled:
            return BillingStatus(enabled=False, entitled=True)
        sub = await self.repo.current_subscription(user_id)
        if sub is None:
            return BillingStatus(enabled=True, entitled=False)
        plan = self.settings.plan(sub.plan)
        by_kind, billed = await self.repo.period_usage(user_id, sub.current_period_start)
        return BillingStatus(
            enabled=True,
            entitled=self.entitled(sub),
            plan=sub.plan,
            status=sub.status,
            current_period_start=sub.current_period_start,
            current_period_end=sub.current_period_end,
            grace_until=self.grace_until(sub),
            hours_used=round(billed / HOUR, 4),
            hours_included=plan.included_hours if plan else None,
            running_hours=round(by_kind.get(UsageKind.RUNNING, 0.0) / HOUR, 4),
            frozen_hours=round(by_kind.get(UsageKind.FROZEN, 0.0) / HOUR, 4),
            frozen_hour_weight=plan.frozen_hour_weight if plan else None,
            budget_reached=reached(await self.repo.budget(user_id), sub.current_period_start),
        )

    async def customer(self, user_id: UUID) -> Customer | None:
        return await self.repo.customer(user_id)

    async def current_subscription(self, user_id: UUID) -> Subscription | None:
        return await self.repo.current_subscription(user_id)

    def entitled(self, sub: Subscription, now: datetime | None = None) -> bool:
        """Whether the user may create and wake an instance under ``sub``."""
        if sub.status in ENTITLED_STATUSES:
            return True
        grace = self.grace_until(sub)
        return grace is not None and not sub.grace_ended and (now or utcnow()) < grace

    def grace_until(self, sub: Subscription) -> datetime | None:
        if sub.status is not S.PAST_DUE or sub.past_due_since is None:
            return None
        return sub.past_due_since + timedelta(seconds=self.settings.past_due_grace_seconds)

    # Customers

    async def remember_customer(self, user_id: UUID, stripe_id: str, email: str | None) -> None:
        await self.repo.insert_new(
            Customer(user_id=user_id, stripe_customer_id=stripe_id, email=email)
        )

    # Stripe events

    async def store_event(self, event: WebhookEvent, payload: bytes) -> StripeEvent | None:
        """Keep a verified webhook by its id; the stored row when it was already there."""
        row = StripeEvent(id=event.id, type=event.type, created=event.created, payload=payload)
        if await self.repo.insert_new(row):
            return None
        return await self.repo.event(event.id)

    async def begin_event(self, event_id: str) -> StripeEvent | None:
        """Lock a stored event for handling; None when it is already handled (or unknown)."""
        row = await self.repo.event(event_id, for_update=True)
        return row if row is not None and row.processed_at is None else None

    def finish_event(self, row: StripeEvent) -> None:
        row.processed_at = utcnow()
        row.attempts += 1
        row.last_error = row.next_attempt_at = row.parked_at = None
        self.session.add(row)

    async def event_failed(
        self, event_id: str, error: str, *, unusable: bool = False
    ) -> StripeEvent | None:
        """Count a failed try at a stored event: park it when it cannot be used or has had its
        tries, else set when to try next. The row (None when it was handled meanwhile)."""
        row = await self.repo.event(event_id, for_update=True)
        if row is None or row.processed_at is not None:
            return None
        now = utcnow()
        row.attempts += 1
        row.last_error = error[:2000]
        if unusable or row.attempts >= self.settings.webhook_max_attempts:
            row.parked_at, row.next_attempt_at = now, None
        else:
            wait = retry_delay(
                row.attempts,
                self.settings.webhook_retry_seconds,
                self.settings.webhook_retry_max_seconds,
            )
            row.parked_at, row.next_attempt_at = None, now + timedelta(seconds=wait)
        self.session.add(row)
        return row

    async def sync_subscription(
        self,
        current: StripeSubscription,
        *,
        user_hint: UUID | None = None,
        payment_failed: bool = False,
        cause: str | None = None,
    ) -> None:
        """Bring our row to Stripe's current subscription and announce what changed."""
        user_id = await self._owner(current, user_hint)
        if user_id is None:
            log.warning("billing.subscription_unattributed", subscription_id=current.id)
            return
        row = await self.repo.subscription(current.id)
        if row is not None and row.status is S.CANCELED:
            log.info("billing.subscription_final", subscription_id=current.id, cause=cause)
            return  # canceled is final: a late event never revives it
        before = (row.status, row.plan, row.current_period_end) if row else None
        was_entitled = row is not None and self.entitled(row)
        row = row or Subscription(
            id=current.id,
            user_id=user_id,
            stripe_customer_id=current.customer,
            plan="",
            status=S.INCOMPLETE,
        )
        self._apply(row, current, payment_failed=payment_failed)
        self.session.add(row)
        await self._remember_period(row)
        if before != (row.status, row.plan, row.current_period_end):
            newly_past_due = row.status is S.PAST_DUE and (
                before is None or before[0] is not S.PAST_DUE
            )
            self._announce(
                row, was_entitled=was_entitled, newly_past_due=newly_past_due, cause=cause
            )

    async def _remember_period(self, row: Subscription) -> None:
        """Keep the subscription's current period among the user's (first sync of it wins;
        its end is brought up to date)."""
        if row.current_period_start is None:
            return
        period = BillingPeriod(
            user_id=row.user_id,
            period_start=row.current_period_start,
            period_end=row.current_period_end,
            subscription_id=row.id,
            plan=row.plan,
        )
        if not await self.repo.insert_new(period):
            known = await self.session.get(BillingPeriod, (row.user_id, row.current_period_start))
            if known is not None:
                known.period_end, known.plan = row.current_period_end, row.plan
                self.session.add(known)

    async def end_grace_periods(self, now: datetime) -> list[str]:
        """Past-due subscriptions whose grace period ran out: announced as not entitled."""
        cutoff = now - timedelta(seconds=self.settings.past_due_grace_seconds)
        ended = []
        for row in await self.repo.grace_ending(cutoff):
            row.grace_ended = True
            row.updated_at = now
            self.session.add(row)
            self._emit(SubscriptionPastDue, row)
            ended.append(row.id)
            log.warning("billing.grace_ended", subscription_id=row.id, user_id=str(row.user_id))
        return ended

    # Usage

    async def add_usage(self, sample: UsageSample) -> UsageEntry | None:
        """Add a sample to the ledger once, in the period it was observed in (its
        ``occurred_at``, however late it arrives); the entry while it has usage to report."""
        existing = await self.repo.usage(sample.sample_id)
        if existing is None:
            # Locked: one user's samples are counted one at a time, so the overage adds up.
            sub = await self.repo.current_subscription(sample.user_id, for_update=True)
            observed = sample.occurred_at.astimezone(UTC)
            period, plan = await self._period_of(sample.user_id, sub, observed)
            _, used = await self.repo.period_usage(sample.user_id, period)
            billed = sample.seconds * _weight(plan, sample.kind)
            entry = UsageEntry(
                sample_id=sample.sample_id,
                user_id=sample.user_id,
                instance_id=sample.instance_id,
                seconds=sample.seconds,
                kind=sample.kind,
                billed_seconds=billed,
                period_start=period,
                stripe_customer_id=sub.stripe_customer_id if sub else None,
                overage_seconds=self._overage(plan, used, billed),
                observed_at=observed,
                day=observed.date(),
            )
            if await self.repo.insert_new(entry):
                await self.repo.add_to_day(entry)
                return entry if entry.overage_seconds else None
            # The same sample delivered twice at once: the delivery that inserted it counts.
            existing = await self.repo.usage(sample.sample_id)
        unreported = existing is not None and existing.overage_seconds and not existing.reported_at
        return existing if unreported else None

    async def _period_of(
        self, user_id: UUID, sub: Subscription | None, at: datetime
    ) -> tuple[datetime | None, Plan | None]:
        """The period (and its plan) a moment belongs to: the latest one synced that had begun
        by then; the current subscription's when none is known; none before any period."""
        found = await self.repo.period_at(user_id, at)
        if found is not None:
            return found.period_start, self.settings.plan(found.plan)
        if sub is None or (sub.current_period_start and sub.current_period_start > at):
            return None, None
        return sub.current_period_start, self.settings.plan(sub.plan)

    async def unreported_usage(self, limit: int = 100) -> list[UsageEntry]:
        return list(await self.repo.unreported(limit))

    async def usage_reported(self, sample_id: UUID) -> None:
        await self.repo.mark_reported(sample_id, utcnow())

    # Rules

    async def _owner(self, current: StripeSubscription, hint: UUID | None) -> UUID | None:
        """Whose subscription: its customer's owner (our customers table, the checkout made it);
        the user the event names (the checkout's, the subscription's metadata) only for a
        customer we did not make. A named user who is not the owner is refused."""
        named = hint or _metadata_user(current)
        customer = await self.repo.customer_by_stripe_id(current.customer)
        if customer is None:
            return named
        if named is not None and named != customer.user_id:
            log.warning(
                "billing.subscription_owner_mismatch",
                subscription_id=current.id,
                customer=current.customer,
                owner=str(customer.user_id),
                named=str(named),
            )
            raise UnusableEvent(
                f"subscription {current.id} names user {named}, but its customer "
                f"{current.customer} belongs to user {customer.user_id}"
            )
        return customer.user_id

    def _apply(
        self, row: Subscription, current: StripeSubscription, *, payment_failed: bool
    ) -> None:
        now = utcnow()
        try:
            status = S(current.status)
        except ValueError:
            status = row.status
        if payment_failed and status in ENTITLED_STATUSES:
            status = S.PAST_DUE  # the invoice failed; Stripe marks it past_due on its side too
        if status is S.PAST_DUE and row.status is not S.PAST_DUE:
            row.past_due_since, row.grace_ended = now, False
        elif status is not S.PAST_DUE:
            row.past_due_since, row.grace_ended = None, False
        row.status = status
        row.plan = (
            self.settings.plan_for_price(current.price_id)
            or current.metadata.get("plan")
            or row.plan
            or "unknown"
        )
        row.stripe_customer_id = current.customer or row.stripe_customer_id
        row.current_period_start = current.current_period_start or row.current_period_start
        row.current_period_end = current.current_period_end or row.current_period_end
        row.updated_at = now

    def _announce(
        self, row: Subscription, *, was_entitled: bool, newly_past_due: bool, cause: str | None
    ) -> None:
        if row.status is S.CANCELED:
            kind: Kind = SubscriptionCanceled
        elif newly_past_due:
            kind = SubscriptionPastDue
        elif row.status in ENTITLED_STATUSES and not was_entitled:
            kind = SubscriptionActivated
        else:
            kind = SubscriptionUpdated
        self._emit(kind, row, cause=cause)
        log.info(
            "billing.subscription_synced",
            subscription_id=row.id,
            user_id=str(row.user_id),
            status=row.status.value,
            plan=row.plan,
            announced=kind.__name__,
        )

    def _emit(self, kind: Kind, row: Subscription, *, cause: str | None = None) -> None:
        plan = self.settings.plan(row.plan)
        fallback = next(iter(self.settings.plans.values()))
        add_to_outbox(
            self.session,
            kind(
                user_id=row.user_id,
                subscription_id=row.id,
                plan=row.plan,
                status=row.status,
                entitled=self.entitled(row),
                machine=(plan or fallback).machine,
                current_period_end=row.current_period_end,
                grace_until=self.grace_until(row),
                correlation_id=cause,
            ),
        )

    def _overage(self, plan: Plan | None, used: float, seconds: float) -> int:
        """The part of ``seconds`` beyond the plan's included hours, once ``used`` are counted
        (both as they count against the plan: frozen time weighted)."""
        if plan is None:
            return 0
        included = plan.included_hours * HOUR
        beyond = max(0.0, used + seconds - included) - max(0.0, used - included)
        return round(beyond)


def _metadata_user(current: StripeSubscription) -> UUID | None:
    try:
        return UUID(current.metadata["user_id"]) if "user_id" in current.metadata else None
    except ValueError:
        return None


def retry_delay(attempts: int, first: float, longest: float) -> float:
    """The wait after the ``attempts``-th failed try: ``first``, doubled each time, at most
    ``longest``."""
    return min(longest, first * 2.0 ** min(attempts - 1, 32))


def _weight(plan: Plan | None, kind: UsageKind) -> float:
    """What a second of ``kind`` counts against ``plan`` (without one: running time only)."""
    if plan is None:
        return 1.0 if kind is UsageKind.RUNNING else 0.0
    return plan.weight(kind)
