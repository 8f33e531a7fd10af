"""Examples of the spend messages (and answers), for the catalogue: the same ids as
:mod:`.examples`, so they read as part of the same story."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

from .examples import _AT, _INSTANCE, _USER, _envelope
from .spend import (
    BudgetAlert,
    BudgetLifted,
    BudgetReached,
    BudgetThreshold,
    BudgetView,
    ClaudeBilledBy,
    ClaudeSource,
    ClaudeSpendDay,
    ClaudeSpendReported,
    ClearBudget,
    GetBudget,
    GetUsage,
    SetBudget,
    UsageDay,
    UsageSeries,
)

_DAY = date(2026, 3, 2)
_PERIOD = _AT - timedelta(days=1, hours=9, minutes=30)

SPEND_CLAUDE = ClaudeSpendReported(
    **_envelope(40),
    user_id=_USER,
    instance_id=_INSTANCE,
    days=[
        ClaudeSpendDay(
            day=_DAY,
            source=ClaudeSource.CHAT,
            cost_usd=1.84,
            input_tokens=120_400,
            output_tokens=18_250,
            cache_read_tokens=402_000,
            turns=14,
        )
    ],
)

SPEND_USAGE = GetUsage(user_id=_USER, from_day=_DAY - timedelta(days=1), to_day=_DAY)

SPEND_USAGE_ANSWER = UsageSeries(
    from_day=_DAY - timedelta(days=1),
    to_day=_DAY,
    days=[
        UsageDay(day=_DAY - timedelta(days=1), running_hours=6.5, billed_hours=6.5),
        UsageDay(
            day=_DAY,
            running_hours=3.25,
            frozen_hours=8.0,
            billed_hours=3.25,
            claude_usd=1.84,
            claude_input_tokens=120_400,
            claude_output_tokens=18_250,
        ),
    ],
    plan="starter",
    current_period_start=_PERIOD,
    current_period_end=_PERIOD + timedelta(days=31),
    hours_included=40.0,
    hours_used=9.75,
    hours_projected=190.2,
    overage_hours=0.0,
    overage_usd=0.0,
    overage_projected_usd=75.1,
    overage_usd_per_hour=0.5,
    claude_usd=1.84,
    claude_billed_by=ClaudeBilledBy.ANTHROPIC,
)

_BUDGET = BudgetView(
    monthly_limit_usd=20.0,
    hard_stop=True,
    spent_usd=15.5,
    percent=77.5,
    alerts_sent=[BudgetThreshold.WARN],
    current_period_start=_PERIOD,
    current_period_end=_PERIOD + timedelta(days=31),
)

SPEND_BUDGET_GET = GetBudget(user_id=_USER)

SPEND_BUDGET_GET_ANSWER = _BUDGET

SPEND_BUDGET_SET = SetBudget(
    user_id=_USER,
    monthly_limit_usd=20.0,
    hard_stop=True,
    request_id=UUID("9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"),
)

SPEND_BUDGET_SET_ANSWER = _BUDGET

SPEND_BUDGET_CLEAR = ClearBudget(
    user_id=_USER, request_id=UUID("9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6b")
)

SPEND_BUDGET_CLEAR_ANSWER = BudgetView(spent_usd=15.5, current_period_start=_PERIOD)

_BUDGET_EVENT = {
    "user_id": _USER,
    "monthly_limit_usd": 20.0,
    "period_start": _PERIOD,
}

SPEND_BUDGET_ALERT = BudgetAlert(
    **_envelope(41),
    **_BUDGET_EVENT,
    spent_usd=15.5,
    threshold=BudgetThreshold.WARN,
    hard_stop=True,
)

SPEND_BUDGET_REACHED = BudgetReached(
    **_envelope(42), **_BUDGET_EVENT, spent_usd=20.1, instance_ids=[_INSTANCE]
)

SPEND_BUDGET_LIFTED = BudgetLifted(
    **_envelope(43),
    **(_BUDGET_EVENT | {"monthly_limit_usd": 40.0}),
    spent_usd=20.1,
    instance_ids=[_INSTANCE],
)
