"""Billing's spend rules without I/O: the period's spend, when a threshold is crossed, whether a
hard stop is in effect, the days a usage series covers and where the period ends at this pace."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.spend import MAX_SERIES_DAYS, BudgetThreshold, GetUsage

from .models import Budget, Subscription
from .settings import Plan

DEFAULT_DAYS = 30
"""The series without a period or dates: the last thirty days."""


@dataclass(frozen=True)
class Seen:
    """The instance whose usage or Claude spend prompted an evaluation, and whether it was
    running then (a frozen one was put to sleep by its user or for idleness)."""

    instance_id: UUID
    running: bool


@dataclass(frozen=True)
class Period:
    """The user's current period, its plan and what the budget covers in it so far."""

    sub: Subscription
    start: datetime
    end: datetime | None
    plan: Plan | None
    billed_hours: float
    platform_usd: float

    @property
    def overage_hours(self) -> float:
        included = self.plan.included_hours if self.plan else 0.0
        return max(0.0, self.billed_hours - included) if self.plan else 0.0

    @property
    def overage_usd(self) -> float:
        return self.overage_hours * (self.plan.overage_usd_per_hour if self.plan else 0.0)

    @property
    def spent_usd(self) -> float:
        """What a budget covers: the overage and the Claude tokens the platform paid for."""
        return self.overage_usd + self.platform_usd

    def days(self) -> tuple[date, date]:
        last = (self.end - timedelta(microseconds=1)).date() if self.end else utcnow().date()
        return self.start.date(), max(last, self.start.date())


def threshold_met(limit: float, spent: float, threshold: BudgetThreshold) -> bool:
    """Whether ``spent`` reached ``threshold`` % of ``limit`` (nothing spent reaches nothing:
    a $0 budget is reached by the first cent)."""
    return spent > 0 and spent >= limit * int(threshold) / 100.0


def crossed(limit: float, spent: float) -> list[BudgetThreshold]:
    return [t for t in BudgetThreshold if threshold_met(limit, spent, t)]


def reached(budget: Budget | None, period_start: datetime | None) -> bool:
    return (
        budget is not None
        and budget.hard_stop
        and budget.reached_period_start is not None
        and budget.reached_period_start == period_start
    )


def series_range(query: GetUsage, period: Period | None, now: datetime) -> tuple[date, date]:
    if query.from_day and query.to_day:
        return query.from_day, query.to_day
    if period is not None:
        first, last = period.days()
    else:
        last = now.astimezone(UTC).date()
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    if query.from_day:
        first, last = query.from_day, max(last, query.from_day)
    if query.to_day:
        first, last = min(first, query.to_day), query.to_day
    longest = timedelta(days=MAX_SERIES_DAYS - 1)
    if query.from_day:
        return first, min(last, _shifted(first, longest))
    return max(first, _shifted(last, -longest)), last


def _shifted(day: date, by: timedelta) -> date:
    """``day`` moved by ``by``, held within the calendar (year 1 to 9999)."""
    try:
        return day + by
    except OverflowError:
        return date.max if by > timedelta(0) else date.min


def projected(period: Period, now: datetime) -> float | None:
    """Billed hours at the period's end at the pace so far."""
    if period.end is None:
        return None
    elapsed = (min(now, period.end) - period.start).total_seconds()
    length = (period.end - period.start).total_seconds()
    if elapsed <= 0 or length <= 0:
        return period.billed_hours
    return period.billed_hours * length / elapsed
