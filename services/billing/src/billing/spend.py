"""Spend: the usage series, Claude's daily totals, and budgets with their alerts and hard stop.

Never commits: the bus handlers own the transactions. Each evaluation of a budget locks the
budget's row first, so two replicas evaluating the same user take turns; each alert is a row
inserted-or-nothing under a unique (user, period, threshold) in the transaction that writes it to
the outbox, so it leaves once per period whatever the replicas, restarts and redeliveries.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID, uuid5

from claudecloud_common.contracts.activity import UsageKind
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.instances import PauseInstance, PauseReason, WakeInstance
from claudecloud_common.contracts.spend import (
    BudgetAlert,
    BudgetLifted,
    BudgetReached,
    BudgetThreshold,
    BudgetView,
    ClaudeBilledBy,
    ClaudeSpendReported,
    GetUsage,
    UsageDay,
    UsageSeries,
)
from claudecloud_common.db import AsyncSession
from claudecloud_common.logging import get_logger
from claudecloud_common.outbox import add_to_outbox

from . import rules
from .models import Budget, BudgetAlertSent, BudgetPause, ClaudeSpend
from .repository import BillingRepository
from .rules import Period, Seen
from .settings import BillingSettings

log = get_logger(__name__)

HOUR = 3600.0
_BUDGET_COMMANDS = UUID("6a1c0c55-95a4-4d8e-b7a3-0d3c1b2f9e41")
"""Namespace of the pause and wake commands a budget sends (a retry sends the same ids)."""
_TOTALS = (
    "cost_usd",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "turns",
)


class SpendService:
    def __init__(self, session: AsyncSession, settings: BillingSettings) -> None:
        self.session = session
        self.settings = settings
        self.repo = BillingRepository(session)

    # The usage series

    async def usage(self, query: GetUsage, now: datetime | None = None) -> UsageSeries:
        """The user's days from ``from_day`` to ``to_day`` (this period when unsaid), with the
        period's included hours, its projection at today's pace, and the overage in money."""
        now = now or utcnow()
        period = await self.period(query.user_id)
        first, last = rules.series_range(query, period, now)
        days = await self._days(query.user_id, first, last)
        return UsageSeries(
            from_day=first,
            to_day=last,
            days=days,
            claude_usd=round(sum(d.claude_usd for d in days), 6),
            **self._period_fields(period, now),
        )

    def _period_fields(self, period: Period | None, now: datetime) -> dict[str, object]:
        if period is None or period.plan is None:
            return {"plan": period.sub.plan if period else None}
        plan, rate = period.plan, period.plan.overage_usd_per_hour
        projected = rules.projected(period, now)
        return {
            "plan": period.sub.plan,
            "current_period_start": period.start,
            "current_period_end": period.end,
            "hours_included": plan.included_hours,
            "hours_used": round(period.billed_hours, 4),
            "hours_projected": round(projected, 4) if projected is not None else None,
            "overage_hours": round(period.overage_hours, 4),
            "overage_usd": round(period.overage_usd, 4),
            "overage_projected_usd": (
                round(max(0.0, projected - plan.included_hours) * rate, 4)
                if projected is not None
                else None
            ),
            "overage_usd_per_hour": rate,
            "claude_billed_by": (
                ClaudeBilledBy.PLATFORM if plan.claude_key_provided else ClaudeBilledBy.ANTHROPIC
            ),
            "platform_tokens_usd": round(period.platform_usd, 6),
        }

    async def _days(self, user_id: UUID, first: date, last: date) -> list[UsageDay]:
        hours: dict[date, dict[str, float]] = {}
        for day, kind, seconds, billed in await self.repo.daily_usage(user_id, first, last):
            found = hours.setdefault(day, {"running": 0.0, "frozen": 0.0, "billed": 0.0})
            found["running" if UsageKind(kind) is UsageKind.RUNNING else "frozen"] += seconds
            found["billed"] += billed
        claude = {d: (c, i, o) for d, c, i, o in await self.repo.claude_daily(user_id, first, last)}
        days = []
        for offset in range((last - first).days + 1):
            day = first + timedelta(days=offset)
            h = hours.get(day, {})
            cost, tokens_in, tokens_out = claude.get(day, (0.0, 0, 0))
            days.append(
                UsageDay(
                    day=day,
                    running_hours=round(h.get("running", 0.0) / HOUR, 4),
                    frozen_hours=round(h.get("frozen", 0.0) / HOUR, 4),
                    billed_hours=round(h.get("billed", 0.0) / HOUR, 4),
                    claude_usd=round(float(cost), 6),
                    claude_input_tokens=int(tokens_in),
                    claude_output_tokens=int(tokens_out),
                )
            )
        return days

    async def period(self, user_id: UUID) -> Period | None:
        """The user's current period with what the budget covers in it (None: no period)."""
        sub = await self.repo.current_subscription(user_id)
        if sub is None or sub.current_period_start is None:
            return None
        _, billed = await self.repo.period_usage(user_id, sub.current_period_start)
        start, end = sub.current_period_start, sub.current_period_end
        partial = Period(sub, start, end, self.settings.plan(sub.plan), billed / HOUR, 0.0)
        first, last = partial.days()
        platform = await self.repo.platform_claude_usd(user_id, first, last)
        return Period(sub, start, end, partial.plan, partial.billed_hours, platform)

    # Claude's spend

    async def record_claude(self, report: ClaudeSpendReported) -> bool:
        """Keep the larger of each day's running totals; whether any grew."""
        sub = await self.repo.current_subscription(report.user_id)
        plan = self.settings.plan(sub.plan) if sub else None
        metered_to = sub.stripe_customer_id if sub and plan and plan.claude_key_provided else None
        grew = False
        for reported in report.days:
            await self.repo.insert_new(
                ClaudeSpend(
                    instance_id=report.instance_id,
                    day=reported.day,
                    source=reported.source,
                    user_id=report.user_id,
                )
            )
            row = await self.repo.claude_day(report.instance_id, reported.day, reported.source)
            if row is None:
                continue
            changed = False
            for field in _TOTALS:
                new = getattr(reported, field)
                if new > getattr(row, field):
                    setattr(row, field, new)
                    changed = True
            if changed:
                row.stripe_customer_id = row.stripe_customer_id or metered_to
                row.updated_at = utcnow()
                self.session.add(row)
                grew = True
        return grew

    # Budgets

    async def budget(self, user_id: UUID) -> BudgetView:
        budget = await self.repo.budget(user_id)
        period = await self.period(user_id)
        return await self._view(budget, period)

    async def set_budget(self, user_id: UUID, limit: float, hard_stop: bool) -> BudgetView:
        budget = await self.repo.budget(user_id, for_update=True)
        if budget is None:
            await self.repo.insert_new(
                Budget(user_id=user_id, monthly_limit_usd=limit, hard_stop=hard_stop)
            )
            budget = await self.repo.budget(user_id, for_update=True)
        assert budget is not None  # inserted above, or by a concurrent set
        budget.monthly_limit_usd, budget.hard_stop = limit, hard_stop
        budget.updated_at = utcnow()
        self.session.add(budget)
        log.info("billing.budget_set", user_id=str(user_id), limit=limit, hard_stop=hard_stop)
        return await self.evaluate(user_id)

    async def clear_budget(self, user_id: UUID) -> BudgetView:
        budget = await self.repo.budget(user_id, for_update=True)
        if budget is not None:
            period = await self.period(user_id)
            if budget.reached_period_start is not None:
                await self._lift(budget, period)
            await self.repo.delete_budget(user_id)
            log.info("billing.budget_cleared", user_id=str(user_id))
        return await self._view(None, await self.period(user_id))

    async def evaluate(self, user_id: UUID, seen: Seen | None = None) -> BudgetView:
        """Send the alerts the spend has crossed, stop at a hard stop, lift one no longer
        reached. ``seen``: the instance whose usage or spend prompted it."""
        budget = await self.repo.budget(user_id, for_update=True)
        period = await self.period(user_id)
        if budget is not None:
            await self._evaluate(budget, period, seen)
        return await self._view(budget, period)

    async def evaluate_if_budgeted(self, user_id: UUID, seen: Seen | None) -> None:
        """:meth:`evaluate` for a user who has a budget (most have none: one query)."""
        if await self.repo.budget(user_id) is not None:
            await self.evaluate(user_id, seen)

    async def _evaluate(self, budget: Budget, period: Period | None, seen: Seen | None) -> None:
        if budget.reached_period_start is not None and not self._still_reached(budget, period):
            await self._lift(budget, period)
        if period is None:
            return
        spent = period.spent_usd
        for threshold in rules.crossed(budget.monthly_limit_usd, spent):
            await self._alert(budget, period, threshold, spent)
        reached = rules.threshold_met(budget.monthly_limit_usd, spent, BudgetThreshold.REACHED)
        if budget.hard_stop and budget.reached_period_start is None and reached:
            await self._stop(budget, period, seen)

    async def lift_stale(self) -> int:
        """Evaluate every budget in effect (a new period starts with nothing spent: what the
        last one stopped is woken); how many were looked at."""
        users = await self.repo.reached_budget_users()
        for user_id in users:
            await self.evaluate(user_id)
        return len(users)

    def _still_reached(self, budget: Budget, period: Period | None) -> bool:
        return (
            period is not None
            and budget.hard_stop
            and budget.reached_period_start == period.start
            and rules.threshold_met(
                budget.monthly_limit_usd, period.spent_usd, BudgetThreshold.REACHED
            )
        )

    async def _alert(
        self, budget: Budget, period: Period, threshold: BudgetThreshold, spent: float
    ) -> None:
        row = BudgetAlertSent(
            user_id=budget.user_id,
            period_start=period.start,
            threshold=int(threshold),
            spent_usd=spent,
        )
        if not await self.repo.insert_new(row):
            return  # sent already this period (another replica, an earlier delivery)
        add_to_outbox(
            self.session,
            BudgetAlert(
                user_id=budget.user_id,
                monthly_limit_usd=budget.monthly_limit_usd,
                spent_usd=round(spent, 4),
                period_start=period.start,
                threshold=threshold,
                hard_stop=budget.hard_stop,
            ),
        )
        log.info("billing.budget_alert", user_id=str(budget.user_id), threshold=int(threshold))

    async def _stop(self, budget: Budget, period: Period, seen: Seen | None) -> None:
        """Pause the user's instance for the budget (stopped, with a checkpoint first). Only one
        that was running is noted as the budget's, so lifting wakes it: one its user or
        idleness had frozen is stopped all the same (frozen time costs) but left asleep."""
        budget.reached_period_start = period.start
        self.session.add(budget)
        seen = seen or await self._latest_seen(budget.user_id)
        paused = []
        if seen is not None:
            if seen.running:
                pause = BudgetPause(user_id=budget.user_id, instance_id=seen.instance_id)
                await self.repo.insert_new(pause)
                paused.append(seen.instance_id)
            key = f"pause:{budget.user_id}:{period.start.isoformat()}:{seen.instance_id}"
            add_to_outbox(
                self.session,
                PauseInstance(
                    id=uuid5(_BUDGET_COMMANDS, key),
                    instance_id=seen.instance_id,
                    reason=PauseReason.BUDGET,
                    keep_memory=False,
                ),
            )
        add_to_outbox(
            self.session,
            BudgetReached(
                user_id=budget.user_id,
                monthly_limit_usd=budget.monthly_limit_usd,
                spent_usd=round(period.spent_usd, 4),
                period_start=period.start,
                instance_ids=paused,
            ),
        )
        log.warning("billing.budget_reached", user_id=str(budget.user_id), paused=len(paused))

    async def _latest_seen(self, user_id: UUID) -> Seen | None:
        found = await self.repo.latest_usage(user_id)
        return Seen(found.instance_id, found.kind is UsageKind.RUNNING) if found else None

    async def _lift(self, budget: Budget, period: Period | None) -> None:
        """Wake what the budget paused (only that) and announce the budget lifted."""
        pauses = await self.repo.budget_pauses(budget.user_id)
        for pause in pauses:
            key = f"wake:{budget.user_id}:{pause.instance_id}:{pause.paused_at.isoformat()}"
            add_to_outbox(
                self.session,
                WakeInstance(id=uuid5(_BUDGET_COMMANDS, key), instance_id=pause.instance_id),
            )
        await self.repo.forget_budget_pauses(budget.user_id)
        reached_in = budget.reached_period_start
        budget.reached_period_start = None
        self.session.add(budget)
        add_to_outbox(
            self.session,
            BudgetLifted(
                user_id=budget.user_id,
                monthly_limit_usd=budget.monthly_limit_usd,
                spent_usd=round(period.spent_usd, 4) if period else 0.0,
                period_start=period.start if period else (reached_in or utcnow()),
                instance_ids=[p.instance_id for p in pauses],
            ),
        )
        log.info("billing.budget_lifted", user_id=str(budget.user_id), woken=len(pauses))

    async def _view(self, budget: Budget | None, period: Period | None) -> BudgetView:
        if budget is None:
            return BudgetView(
                current_period_start=period.start if period else None,
                current_period_end=period.end if period else None,
                spent_usd=round(period.spent_usd, 4) if period else 0.0,
            )
        spent = period.spent_usd if period else 0.0
        limit = budget.monthly_limit_usd
        sent = await self.repo.alerts_sent(budget.user_id, period.start) if period else []
        return BudgetView(
            monthly_limit_usd=limit,
            hard_stop=budget.hard_stop,
            spent_usd=round(spent, 4),
            percent=round(100.0 * spent / limit, 2) if limit > 0 else (100.0 if spent else 0.0),
            alerts_sent=[BudgetThreshold(t) for t in sent],
            reached=rules.reached(budget, period.start if period else None),
            current_period_start=period.start if period else None,
            current_period_end=period.end if period else None,
        )
