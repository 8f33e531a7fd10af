"""The ledger, property-based: samples delivered in any order, duplicated, or across a period
boundary count once, in the period they were observed in, and the totals never decrease."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from billing.settings import DEFAULT_PLANS
from claudecloud_common.contracts.spend import (
    ClaudeSource,
    ClaudeSpendDay,
    ClaudeSpendReported,
    GetUsage,
    UsageSeries,
)
from tests.billing.spend_support import (
    PERIOD,
    START,
    Ledger,
    open_database,
    sample,
    settings_for,
)

pytestmark = pytest.mark.unit

INCLUDED = DEFAULT_PLANS["starter"].model_copy(update={"included_hours": 1.0}).included_hours * 3600


@dataclass
class World:
    runner: asyncio.Runner
    ledger: Ledger


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One SQLite ledger for every example (each example is a new user), driven on a loop of
    its own: Hypothesis calls the test synchronously, once per example."""
    set_hypothesis_home_dir(str(tmp_path_factory.mktemp("hypothesis")))
    path: Path = tmp_path_factory.mktemp("ledger")
    config = settings_for(path)
    with asyncio.Runner() as runner:
        db = runner.run(open_database(config))
        yield World(runner, Ledger(db, config))
        runner.run(db.dispose())


# A sample: whole seconds (so the overage adds up exactly) at an offset from the boundary
# between the user's two periods, negative before it.
_SAMPLES = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=1800),
        st.integers(min_value=-3 * 86_400, max_value=3 * 86_400),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(samples=_SAMPLES, data=st.data())
def test_samples_count_once_in_their_period_whatever_the_order_and_duplicates(
    world: World, samples: list[tuple[int, int]], data: st.DataObject
) -> None:
    ledger = world.ledger
    user = world.runner.run(ledger.subscriber(periods=2))
    boundary = START + PERIOD
    instance = uuid.uuid4()
    made = [
        sample(user, instance, seconds, boundary + timedelta(seconds=offset))
        for seconds, offset in samples
    ]
    # Each sample delivered one to three times, in any order.
    deliveries = [s for s in made for _ in range(data.draw(st.integers(1, 3)))]
    deliveries = data.draw(st.permutations(deliveries))

    seen: list[dict[datetime | None, tuple[float, int]]] = []
    for delivery in deliveries:
        world.runner.run(ledger.add(delivery))
        seen.append(world.runner.run(ledger.period_totals(user)))

    expected: dict[datetime, float] = {}
    for seconds, offset in samples:
        period = START if offset < 0 else boundary
        expected[period] = expected.get(period, 0.0) + seconds
    final = seen[-1]
    assert {p: billed for p, (billed, _) in final.items()} == expected
    for period, billed in expected.items():
        assert final[period][1] == max(0, round(billed - INCLUDED))  # the meter's share, once
    # The usage series counts each sample once too, on the day it was observed.
    series = world.runner.run(_series(ledger, user))
    by_day: dict[date, float] = {}
    for seconds, offset in samples:
        day = (boundary + timedelta(seconds=offset)).date()
        by_day[day] = by_day.get(day, 0.0) + seconds
    assert {d.day: d.running_hours for d in series.days if d.running_hours} == pytest.approx(
        {day: round(total / 3600, 4) for day, total in by_day.items()}
    )
    for before, after in itertools.pairwise(seen):
        for key, (billed, over) in before.items():
            assert after[key][0] >= billed
            assert after[key][1] >= over


_REPORT = st.tuples(
    st.sampled_from([date(2026, 11, 30), date(2026, 12, 1)]),
    st.sampled_from(list(ClaudeSource)),
    st.integers(min_value=0, max_value=500),
    st.integers(min_value=0, max_value=10_000),
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(reports=st.lists(_REPORT, min_size=1, max_size=10), data=st.data())
def test_claude_totals_keep_the_largest_report_whatever_the_order(
    world: World, reports: list[tuple[date, ClaudeSource, int, int]], data: st.DataObject
) -> None:
    ledger = world.ledger
    user = world.runner.run(ledger.subscriber())
    instance = uuid.uuid4()
    # Running totals grow: a report's totals are the largest so far for its day and source.
    grown: list[ClaudeSpendDay] = []
    best: dict[tuple[date, ClaudeSource], tuple[int, int]] = {}
    for day, source, cents, tokens in reports:
        before = best.get((day, source), (0, 0))
        now = (before[0] + cents, before[1] + tokens)
        best[(day, source)] = now
        grown.append(
            ClaudeSpendDay(
                day=day, source=source, cost_usd=now[0] / 100, input_tokens=now[1], output_tokens=0
            )
        )
    deliveries = data.draw(st.permutations(grown + data.draw(st.lists(st.sampled_from(grown)))))
    totals_seen: list[float] = []
    for reported in deliveries:
        report = ClaudeSpendReported(user_id=user, instance_id=instance, days=[reported])
        world.runner.run(_record(ledger, report))
        totals_seen.append(world.runner.run(_claude_total(ledger, user)))

    assert totals_seen == sorted(totals_seen)  # never decreases
    assert totals_seen[-1] == pytest.approx(sum(c for c, _ in best.values()) / 100)


async def _series(ledger: Ledger, user: uuid.UUID) -> UsageSeries:
    first, last = (START + PERIOD - timedelta(days=4)).date(), (START + PERIOD * 2).date()
    async with ledger.db.read() as session:
        return await ledger.spend(session).usage(
            GetUsage(user_id=user, from_day=first, to_day=last)
        )


async def _record(ledger: Ledger, report: ClaudeSpendReported) -> None:
    async with ledger.db.transaction(notify=False) as session:
        await ledger.spend(session).record_claude(report)


async def _claude_total(ledger: Ledger, user: uuid.UUID) -> float:
    async with ledger.db.read() as session:
        rows = await ledger.spend(session).repo.claude_daily(
            user, date(2026, 11, 1), date(2026, 12, 31)
        )
    return sum(float(cost) for _, cost, _, _ in rows)
