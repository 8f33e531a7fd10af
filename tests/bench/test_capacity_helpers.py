"""The capacity benchmark's pure helpers: what it reads from the poll histogram and from
Prometheus' text, and the agents' script."""

from __future__ import annotations

from bench.agents import TURNS_SHARE, TYPING_SHARE, Doing, doing, report
from bench.capacity import metric_value, tick_durations
from claudecloud_agentapi import ActivitySignals


def test_each_poll_is_read_from_the_histograms_growth() -> None:
    readings = [(0, 0.0), (0, 0.0), (1, 2.5), (1, 2.5), (3, 6.5)]

    assert tick_durations(readings) == [2.5, 2.0, 2.0]
    assert tick_durations(readings[:1]) == []


def test_a_sample_is_found_by_its_whole_name() -> None:
    text = (
        "# HELP claudecloud_activity_poll_seconds Wall time\n"
        'claudecloud_activity_poll_seconds_bucket{le="0.05"} 1.0\n'
        "claudecloud_activity_poll_seconds_count 4.0\n"
        "claudecloud_activity_poll_seconds_sum 7.25\n"
    )

    assert metric_value(text, "claudecloud_activity_poll_seconds_sum") == 7.25
    assert metric_value(text, 'claudecloud_activity_poll_seconds_bucket{le="0.05"}') == 1.0
    assert metric_value(text, "claudecloud_activity_poll_seconds") is None


def test_the_agents_script_is_mostly_idle_and_reads_as_the_agents_report() -> None:
    found = [doing(f"secret-{i}") for i in range(4000)]

    typing, turns = found.count(Doing.TYPING) / 4000, found.count(Doing.TURN) / 4000
    assert abs(typing - TYPING_SHARE) < 0.02
    assert abs(turns - TURNS_SHARE) < 0.02
    assert doing("secret-1") is doing("secret-1")
    typed = [ActivitySignals.model_validate(report(Doing.TYPING, n)) for n in (1, 2)]
    assert typed[1].inputs > typed[0].inputs
    assert ActivitySignals.model_validate(report(Doing.TURN, 1)).chat_turns == 1
