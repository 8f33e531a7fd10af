"""The usage series and budgets, as billing's rules decide them (SQLite, no bus): alerts once each,
the hard stop pausing what the sample came from, and lifting waking only that."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from billing.rules import Seen
from billing.service import BillingService
from claudecloud_common.contracts.activity import UsageKind
from claudecloud_common.contracts.spend import (
    BudgetThreshold,
    ClaudeBilledBy,
    ClaudeSource,
    ClaudeSpendDay,
    ClaudeSpendReported,
    GetUsage,
)
from tests.billing.spend_support import (
    ONE_HOUR_PLANS,
    PERIOD,
    START,
    Ledger,
    open_database,
    sample,
    settings_for,
)

pytestmark = pytest.mark.unit

HOUR = 3600


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    config = settings_for(tmp_path)
    db = await open_database(config)
    yield Ledger(db, config)
    await db.dispose()


async def _set(ledger: Ledger, user: uuid.UUID, limit: float, hard_stop: bool) -> None:
    async with ledger.db.transaction(notify=False) as session:
        await ledger.spend(session).set_budget(user, limit, hard_stop)


def _kinds(messages: list[dict[str, object]]) -> list[str]:
    return [str(m["type"]) for m in messages]


async def test_the_series_buckets_hours_by_the_day_observed_and_projects_the_period(
    ledger: Ledger,
) -> None:
    user, instance = await ledger.subscriber(), uuid.uuid4()
    day_one = START + timedelta(hours=23, minutes=30)
    await ledger.add(sample(user, instance, 2 * HOUR, day_one))
    await ledger.add(sample(user, instance, HOUR, day_one + timedelta(hours=1)))
    await ledger.add(sample(user, instance, HOUR, day_one, kind=UsageKind.FROZEN))
    async with ledger.db.transaction(notify=False) as session:
        await ledger.spend(session).record_claude(
            ClaudeSpendReported(
                user_id=user,
                instance_id=instance,
                days=[
                    ClaudeSpendDay(
                        day=date(2026, 11, 2),
                        source=ClaudeSource.CHAT,
                        cost_usd=1.25,
                        input_tokens=1000,
                        output_tokens=200,
                    )
                ],
            )
        )
    now = START + PERIOD / 10  # a tenth of the period gone
    async with ledger.db.read() as session:
        series = await ledger.spend(session).usage(GetUsage(user_id=user), now=now)

    assert (series.from_day, series.to_day) == (date(2026, 11, 1), date(2026, 11, 30))
    assert len(series.days) == 30
    first, second = series.days[0], series.days[1]
    assert (first.running_hours, first.frozen_hours, first.billed_hours) == (2.0, 1.0, 2.0)
    assert (second.running_hours, second.claude_usd, second.claude_input_tokens) == (
        1.0,
        1.25,
        1000,
    )
    assert series.hours_used == 3.0
    assert series.hours_projected == pytest.approx(30.0)
    rate = ONE_HOUR_PLANS["starter"].overage_usd_per_hour
    assert series.overage_hours == 2.0
    assert series.overage_usd == pytest.approx(2 * rate)
    assert series.overage_projected_usd == pytest.approx(29 * rate)
    assert series.claude_usd == 1.25
    assert series.claude_billed_by is ClaudeBilledBy.ANTHROPIC
    assert series.platform_tokens_usd == 0.0  # the user's own key: shown, not charged


async def test_alerts_are_sent_once_each_and_the_hard_stop_pauses_then_lifting_wakes(
    ledger: Ledger,
) -> None:
    user, instance = await ledger.subscriber(start=START), uuid.uuid4()
    rate = ONE_HOUR_PLANS["starter"].overage_usd_per_hour  # $0.50 an hour beyond the first
    await _set(ledger, user, limit=10 * rate, hard_stop=True)  # ten hours of overage
    at = START + timedelta(days=1)
    await ledger.add(sample(user, instance, HOUR, at))  # included
    assert _kinds(await ledger.outbox(user, instance)) == []
    await ledger.add(sample(user, instance, 8 * HOUR, at))  # 8 h over: 80 %
    again = sample(user, instance, HOUR, at)
    for _ in range(3):  # 9 h over: 90 %, delivered three times
        await ledger.add(again)
    await _set(ledger, user, limit=10 * rate, hard_stop=True)  # evaluated again: nothing new
    assert _kinds(await ledger.outbox(user, instance)) == [
        "billing.budget_alert",
        "billing.budget_alert",
    ]
    await ledger.add(sample(user, instance, HOUR, at))  # 10 h over: reached
    await ledger.add(sample(user, instance, HOUR, at))  # a late one: nothing more
    sent = await ledger.outbox(user, instance)
    assert [m.get("threshold") for m in sent if m["type"] == "billing.budget_alert"] == [
        75,
        90,
        100,
    ]
    pause = [m for m in sent if m["type"] == "instance.pause"]
    assert [(p["instance_id"], p["reason"], p["keep_memory"]) for p in pause] == [
        (str(instance), "budget", False)
    ]
    assert _kinds(sent)[-1] == "billing.budget_reached"
    async with ledger.db.read() as session:
        assert (await BillingService(session, ledger.settings).status(user)).budget_reached
        view = await ledger.spend(session).budget(user)
    assert view.reached
    assert view.alerts_sent == list(BudgetThreshold)

    await _set(ledger, user, limit=11 * rate, hard_stop=True)  # still at or below what is spent
    assert "instance.wake" not in _kinds(await ledger.outbox(user, instance))
    await _set(ledger, user, limit=20 * rate, hard_stop=True)  # raised above it
    after = await ledger.outbox(user, instance)
    wakes = [m for m in after if m["type"] == "instance.wake"]
    assert [w["instance_id"] for w in wakes] == [str(instance)]
    assert _kinds(after)[-1] == "billing.budget_lifted"
    async with ledger.db.read() as session:
        assert not (await BillingService(session, ledger.settings).status(user)).budget_reached


async def test_clearing_a_reached_budget_wakes_only_what_it_paused(ledger: Ledger) -> None:
    user, instance = await ledger.subscriber(), uuid.uuid4()
    await _set(ledger, user, limit=0.0, hard_stop=True)  # no overage at all
    await ledger.add(sample(user, instance, 2 * HOUR, START + timedelta(days=1)))
    other = uuid.uuid4()  # paused by its user, not by the budget: never woken by it
    async with ledger.db.transaction(notify=False) as session:
        await ledger.spend(session).clear_budget(user)
        view = await ledger.spend(session).budget(user)
    sent = await ledger.outbox(user, instance, other)
    assert [m["instance_id"] for m in sent if m["type"] == "instance.wake"] == [str(instance)]
    assert view.monthly_limit_usd is None
    assert not view.reached


async def test_a_soft_budget_alerts_but_never_pauses(ledger: Ledger) -> None:
    user, instance = await ledger.subscriber(), uuid.uuid4()
    await _set(ledger, user, limit=0.5, hard_stop=False)
    await ledger.add(sample(user, instance, 5 * HOUR, START + timedelta(days=1)))
    sent = _kinds(await ledger.outbox(user, instance))
    assert sent == ["billing.budget_alert"] * 3


async def test_platform_provided_claude_counts_against_the_budget(tmp_path: Path) -> None:
    plans = {
        name: plan.model_copy(update={"claude_key_provided": True})
        for name, plan in ONE_HOUR_PLANS.items()
    }
    config = settings_for(tmp_path, plans=plans)
    ledger = Ledger(await open_database(config), config)
    user, instance = await ledger.subscriber(), uuid.uuid4()
    await _set(ledger, user, limit=4.0, hard_stop=False)
    report = ClaudeSpendReported(
        user_id=user,
        instance_id=instance,
        days=[
            ClaudeSpendDay(
                day=date(2026, 11, 3),
                source=ClaudeSource.TERMINAL,
                cost_usd=3.2,
                input_tokens=1,
                output_tokens=1,
            )
        ],
    )
    async with ledger.db.transaction(notify=False) as session:
        spend = ledger.spend(session)
        assert await spend.record_claude(report)
        await spend.evaluate_if_budgeted(user, Seen(instance, running=True))
    async with ledger.db.read() as session:
        view = await ledger.spend(session).budget(user)
        unmetered = await ledger.spend(session).repo.unmetered_claude(10)
    await ledger.db.dispose()
    assert view.spent_usd == pytest.approx(3.2)
    assert view.alerts_sent == [BudgetThreshold.WARN]
    assert [(r.instance_id, r.stripe_customer_id is not None) for r in unmetered] == [
        (instance, True)
    ]


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        (date(9999, 12, 31), None, (date(9999, 12, 31), date(9999, 12, 31))),
        (None, date(1, 1, 1), (date(1, 1, 1), date(1, 1, 1))),
        (date(2020, 1, 1), None, (date(2020, 1, 1), date(2021, 2, 3))),  # at most 400 days
        (None, date(2026, 11, 10), (date(2026, 11, 1), date(2026, 11, 10))),
    ],
)
async def test_a_half_open_range_is_filled_from_the_period_and_held_to_400_days(
    ledger: Ledger, first: date | None, last: date | None, expected: tuple[date, date]
) -> None:
    user = await ledger.subscriber()
    async with ledger.db.read() as session:
        series = await ledger.spend(session).usage(
            GetUsage(user_id=user, from_day=first, to_day=last)
        )
    assert (series.from_day, series.to_day) == expected
    assert len(series.days) == (expected[1] - expected[0]).days + 1


async def test_a_new_period_lifts_the_hard_stop_of_the_last_one(ledger: Ledger) -> None:
    user, instance = await ledger.subscriber(), uuid.uuid4()
    await _set(ledger, user, limit=0.0, hard_stop=True)
    await ledger.add(sample(user, instance, 2 * HOUR, START + timedelta(days=1)))
    renewed = START + PERIOD
    async with ledger.db.transaction(notify=False) as session:
        sub = await BillingService(session, ledger.settings).current_subscription(user)
        assert sub is not None
        sub.current_period_start, sub.current_period_end = renewed, renewed + PERIOD
        session.add(sub)
    async with ledger.db.transaction(notify=False) as session:
        assert await ledger.spend(session).lift_stale() >= 1
        view = await ledger.spend(session).budget(user)
    sent = await ledger.outbox(user, instance)
    assert [m["instance_id"] for m in sent if m["type"] == "instance.wake"] == [str(instance)]
    assert not view.reached


async def test_an_instance_frozen_by_its_user_is_stopped_but_not_woken_by_the_budget(
    ledger: Ledger,
) -> None:
    frozen_costs = {
        name: plan.model_copy(update={"frozen_hour_weight": 1.0})
        for name, plan in ONE_HOUR_PLANS.items()
    }
    ledger.settings = ledger.settings.model_copy(update={"plans": frozen_costs})
    user, instance = await ledger.subscriber(), uuid.uuid4()
    await _set(ledger, user, limit=0.0, hard_stop=True)
    frozen = sample(user, instance, 2 * HOUR, START + timedelta(days=1), kind=UsageKind.FROZEN)
    await ledger.add(frozen)
    await _set(ledger, user, limit=100.0, hard_stop=True)
    sent = await ledger.outbox(user, instance)
    assert [m["reason"] for m in sent if m["type"] == "instance.pause"] == ["budget"]
    assert "instance.wake" not in _kinds(sent)  # its user froze it: they wake it
    assert _kinds(sent)[-1] == "billing.budget_lifted"
