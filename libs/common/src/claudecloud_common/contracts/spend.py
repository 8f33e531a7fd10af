"""Spend: the usage series a person reads, Claude's own spend beside the hours, and budgets.

Billing owns all of it (the ledger, the daily Claude totals, the budgets and the alerts sent);
activity carries Claude's spend from the agents to billing; the gateway asks billing over rpc.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import IntEnum, StrEnum
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from claudecloud_agentapi.spend import ClaudeSource, ClaudeSpendDay

from .base import Event, Query

__all__ = [
    "BUDGET_REACHED",
    "MAX_BUDGET_USD",
    "MAX_SERIES_DAYS",
    "BudgetAlert",
    "BudgetEvent",
    "BudgetLifted",
    "BudgetReached",
    "BudgetThreshold",
    "BudgetView",
    "ClaudeBilledBy",
    "ClaudeSource",
    "ClaudeSpendDay",
    "ClaudeSpendReported",
    "ClearBudget",
    "GetBudget",
    "GetUsage",
    "SetBudget",
    "SpendSubject",
    "UsageDay",
    "UsageSeries",
]

BUDGET_REACHED = "budget_reached"
"""The error code of a create, wake or chat turn refused because the user's hard-stop budget is
spent (HTTP 402): raising or removing the budget lets them through again."""

MAX_BUDGET_USD = 1_000_000.0
MAX_SERIES_DAYS = 400
"""The longest range ``GET /billing/usage`` answers in one series (a year and a bit)."""


class SpendSubject(StrEnum):
    CLAUDE_SPEND = "evt.activity.claude_spend"
    """Activity found an agent's Claude totals for a day grown (published by activity)."""
    BUDGET_ALERT = "evt.billing.budget_alert"
    """A user's spend crossed 75, 90 or 100 % of their budget this period (once each)."""
    BUDGET_REACHED = "evt.billing.budget_reached"
    """A hard-stop budget is spent: billing paused the user's instance and refuses more."""
    BUDGET_LIFTED = "evt.billing.budget_lifted"
    """A reached budget was raised or removed: what it paused is woken."""

    USAGE = "rpc.billing.usage"
    BUDGET_GET = "rpc.billing.budget.get"
    BUDGET_SET = "rpc.billing.budget.set"
    BUDGET_CLEAR = "rpc.billing.budget.clear"


class ClaudeBilledBy(StrEnum):
    ANTHROPIC = "anthropic"
    """Billed by Anthropic to the user's own key or subscription: shown, never charged again."""
    PLATFORM = "platform"
    """The plan provides the key: the tokens are metered to Stripe like the hours."""


class ClaudeSpendReported(Event):
    """An agent's Claude totals for some days, as activity read them (only the days that grew)."""

    type: Literal["activity.claude_spend"] = "activity.claude_spend"
    subject: ClassVar[SpendSubject] = SpendSubject.CLAUDE_SPEND
    user_id: UUID
    instance_id: UUID
    days: list[ClaudeSpendDay] = Field(min_length=1, max_length=64)


class UsageDay(BaseModel):
    """One UTC day of a user's usage."""

    model_config = ConfigDict(frozen=True)

    day: date
    running_hours: float = 0.0
    frozen_hours: float = 0.0
    billed_hours: float = 0.0
    """What the day counts against the plan (frozen hours weighted by the plan)."""
    claude_usd: float = 0.0
    claude_input_tokens: int = 0
    claude_output_tokens: int = 0


class UsageSeries(BaseModel):
    """``GET /billing/usage?from=&to=``: the days asked for (this period when unsaid), the
    plan's included hours, where the period ends at today's pace, and the overage in money."""

    # ``from``/``to`` on the bus too (the documented schema of the reply is the serialized one).
    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    from_day: date = Field(serialization_alias="from", validation_alias="from")
    to_day: date = Field(serialization_alias="to", validation_alias="to")
    days: list[UsageDay]
    plan: str | None = None
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    hours_included: float | None = None
    hours_used: float = 0.0
    """Billed hours this period so far."""
    hours_projected: float | None = None
    """Billed hours at the period's end if the pace so far holds (None without a period)."""
    overage_hours: float = 0.0
    overage_usd: float = 0.0
    """What the hours beyond the included ones cost so far this period."""
    overage_projected_usd: float | None = None
    overage_usd_per_hour: float = 0.0
    claude_usd: float = 0.0
    """Claude's spend over the days in the series."""
    claude_billed_by: ClaudeBilledBy = ClaudeBilledBy.ANTHROPIC
    platform_tokens_usd: float = 0.0
    """This period's Claude spend metered by the platform (0 unless the plan provides the key)."""


class GetUsage(Query[UsageSeries]):
    subject: ClassVar[SpendSubject] = SpendSubject.USAGE
    user_id: UUID
    from_day: date | None = None
    to_day: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> GetUsage:
        if self.from_day and self.to_day:
            if self.from_day > self.to_day:
                raise ValueError("from must not be after to")
            if (self.to_day - self.from_day).days >= MAX_SERIES_DAYS:
                raise ValueError(f"a series covers at most {MAX_SERIES_DAYS} days")
        return self


class BudgetThreshold(IntEnum):
    WARN = 75
    ALMOST = 90
    REACHED = 100


class BudgetView(BaseModel):
    """A user's budget this period (``monthly_limit_usd`` None: no budget set)."""

    model_config = ConfigDict(frozen=True)

    monthly_limit_usd: float | None = None
    hard_stop: bool = False
    spent_usd: float = 0.0
    """What the budget covers, this period: the overage and platform-provided Claude tokens."""
    percent: float = 0.0
    alerts_sent: list[BudgetThreshold] = []
    reached: bool = False
    """Spent reached the limit with ``hard_stop``: create, wake and chat answer 402."""
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None


class GetBudget(Query[BudgetView]):
    subject: ClassVar[SpendSubject] = SpendSubject.BUDGET_GET
    user_id: UUID


class SetBudget(Query[BudgetView]):
    subject: ClassVar[SpendSubject] = SpendSubject.BUDGET_SET
    user_id: UUID
    monthly_limit_usd: float = Field(ge=0, le=MAX_BUDGET_USD)
    hard_stop: bool = False
    request_id: UUID


class ClearBudget(Query[BudgetView]):
    subject: ClassVar[SpendSubject] = SpendSubject.BUDGET_CLEAR
    user_id: UUID
    request_id: UUID


class BudgetEvent(Event):
    user_id: UUID
    monthly_limit_usd: float
    spent_usd: float
    period_start: datetime


class BudgetAlert(BudgetEvent):
    """Spend crossed ``threshold`` % of the budget this period: sent once per threshold and
    period, whatever the replicas, restarts and redelivered samples (the gateway mails it)."""

    type: Literal["billing.budget_alert"] = "billing.budget_alert"
    subject: ClassVar[SpendSubject] = SpendSubject.BUDGET_ALERT
    threshold: BudgetThreshold
    hard_stop: bool


class BudgetReached(BudgetEvent):
    """A hard-stop budget is spent: the user's instances are paused with reason ``budget``."""

    type: Literal["billing.budget_reached"] = "billing.budget_reached"
    subject: ClassVar[SpendSubject] = SpendSubject.BUDGET_REACHED
    instance_ids: list[UUID] = []


class BudgetLifted(BudgetEvent):
    """A reached budget was raised or removed: the instances it paused are woken (only those)."""

    type: Literal["billing.budget_lifted"] = "billing.budget_lifted"
    subject: ClassVar[SpendSubject] = SpendSubject.BUDGET_LIFTED
    instance_ids: list[UUID] = []
