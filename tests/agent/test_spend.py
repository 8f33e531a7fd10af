"""Claude's spend as the agent sums it: chat results, the terminal's transcripts (duplicates,
incremental reads, the chat's own lines left out) and the price table."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.spend import ChatSpend, ClaudeSpend, TerminalSpend, priced, rates_for
from claudecloud_agentapi import ClaudeSource

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
TODAY, YESTERDAY = date(2026, 12, 7), date(2026, 12, 6)
SONNET = "claude-sonnet-4-5-20250929"


def line(
    message_id: str,
    *,
    at: str = "2026-12-07T10:00:00.000Z",
    model: str = SONNET,
    entrypoint: str = "cli",
    request: str = "req_1",
    **usage: int,
) -> str:
    entry: dict[str, Any] = {
        "type": "assistant",
        "timestamp": at,
        "entrypoint": entrypoint,
        "requestId": request,
        "message": {"id": message_id, "model": model, "role": "assistant", "usage": usage},
    }
    return json.dumps(entry) + "\n"


def transcript(home: Path, name: str = "11111111-2222-3333-4444-555555555555") -> Path:
    path = home / "projects" / "-claude-data-work" / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


def append(path: Path, *lines: str) -> None:
    with path.open("a") as handle:
        handle.writelines(lines)


def by_day(spend: TerminalSpend) -> dict[date, Any]:
    return {d.day: d for d in spend.days(YESTERDAY)}


def test_the_price_table_knows_the_families_and_has_a_default() -> None:
    assert rates_for(SONNET).input == 3.0
    assert rates_for("claude-opus-4-5-20251101").output == 25.0
    assert rates_for("claude-opus-4-1-20250805").output == 75.0
    assert rates_for("claude-haiku-4-5").cache_read == 0.10
    assert rates_for("some-future-model") == rates_for(SONNET)


def test_a_message_is_priced_for_each_kind_of_token() -> None:
    usage = {
        "input_tokens": 1_000_000,
        "output_tokens": 1_000_000,
        "cache_creation_input_tokens": 1_000_000,
        "cache_read_input_tokens": 1_000_000,
    }
    assert priced(usage, SONNET).cost_usd == pytest.approx(3 + 15 + 3.75 + 0.30)
    hour = {"cache_creation_input_tokens": 1_000_000, "cache_creation": {
        "ephemeral_1h_input_tokens": 1_000_000}}  # fmt: skip
    assert priced(hour, SONNET).cost_usd == pytest.approx(6.0)  # a 1-hour write: 2 x input


def test_chat_results_add_up_per_day_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "spend.json"
    chat = ChatSpend(path)
    usage = {"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 5}
    chat.add(0.25, usage, NOW)
    chat.add(0.5, usage, NOW)
    chat.add(1.0, usage, datetime(2026, 12, 6, 23, 59, tzinfo=UTC))
    chat.add(None, None, NOW)  # a result without a cost counts the turn only

    again = ChatSpend(path)  # the agent restarted
    days = {d.day: d for d in again.days(YESTERDAY)}
    assert days[TODAY].cost_usd == 0.75
    assert (days[TODAY].input_tokens, days[TODAY].output_tokens) == (200, 40)
    assert days[TODAY].cache_read_tokens == 10
    assert days[TODAY].turns == 3
    assert days[YESTERDAY].cost_usd == 1.0
    assert {d.source for d in days.values()} == {ClaudeSource.CHAT}


def test_an_unreadable_chat_file_starts_from_nothing(tmp_path: Path) -> None:
    path = tmp_path / "spend.json"
    path.write_text("not json")
    assert ChatSpend(path).days(YESTERDAY) == []


def test_a_message_written_several_times_counts_once_with_its_largest_usage(
    tmp_path: Path,
) -> None:
    spend = TerminalSpend(tmp_path)
    path = transcript(tmp_path)
    append(
        path,
        line("msg_a", input_tokens=1000, output_tokens=1),  # partial output at first
        line("msg_a", input_tokens=1000, output_tokens=500),  # a block of the same message
        line("msg_b", input_tokens=10, output_tokens=10, cache_read_input_tokens=2000),
    )
    today = by_day(spend)[TODAY]
    assert (today.input_tokens, today.output_tokens, today.cache_read_tokens) == (1010, 510, 2000)
    assert today.turns == 2
    assert today.cost_usd == pytest.approx((1010 * 3 + 510 * 15 + 2000 * 0.30) / 1e6, abs=1e-6)
    assert today.source is ClaudeSource.TERMINAL


def test_reads_only_what_was_appended_and_waits_for_a_whole_line(tmp_path: Path) -> None:
    spend = TerminalSpend(tmp_path)
    path = transcript(tmp_path)
    append(path, line("msg_a", input_tokens=100, output_tokens=1))
    assert by_day(spend)[TODAY].input_tokens == 100
    read = spend._files[path].offset
    assert read == path.stat().st_size

    half = line("msg_b", input_tokens=7, output_tokens=1)
    append(path, half[:20])  # Claude is writing this line right now
    assert by_day(spend)[TODAY].input_tokens == 100
    assert spend._files[path].offset == read
    append(path, half[20:])
    assert by_day(spend)[TODAY].input_tokens == 107


def test_a_resumed_conversation_copied_to_a_new_file_counts_once(tmp_path: Path) -> None:
    spend = TerminalSpend(tmp_path)
    first = transcript(tmp_path, "11111111-2222-3333-4444-555555555555")
    append(first, line("msg_a", input_tokens=100, output_tokens=10))
    copy = transcript(tmp_path, "66666666-2222-3333-4444-555555555555")
    append(copy, line("msg_a", input_tokens=100, output_tokens=10))
    append(copy, line("msg_c", request="req_2", input_tokens=1, output_tokens=1))
    assert by_day(spend)[TODAY].input_tokens == 101


def test_the_chats_own_lines_and_old_days_are_left_out(tmp_path: Path) -> None:
    spend = TerminalSpend(tmp_path)
    path = transcript(tmp_path)
    append(
        path,
        line("msg_sdk", entrypoint="sdk-py", input_tokens=5000, output_tokens=5000),
        line("msg_old", at="2026-12-01T10:00:00Z", input_tokens=9, output_tokens=9),
        line("msg_late", at="2026-12-06T23:30:00Z", input_tokens=3, output_tokens=3),
        '{"type": "user", "message": {"content": "hello"}}\n',
        "not json at all\n",
    )
    days = by_day(spend)
    assert set(days) == {YESTERDAY}
    assert days[YESTERDAY].input_tokens == 3


def test_a_replaced_file_is_read_again_from_its_start(tmp_path: Path) -> None:
    spend = TerminalSpend(tmp_path)
    path = transcript(tmp_path)
    append(path, line("msg_a", input_tokens=100, output_tokens=1))
    by_day(spend)
    path.write_text(line("msg_z", input_tokens=1, output_tokens=1))  # shorter: rewritten
    assert by_day(spend)[TODAY].input_tokens == 101


def test_one_poll_reads_at_most_its_budget_and_the_next_goes_on(tmp_path: Path) -> None:
    path = transcript(tmp_path)
    lines = [
        line(f"msg_{n}", request=f"r{n}", input_tokens=1, output_tokens=1) for n in range(10, 60)
    ]
    append(path, *lines)
    spend = TerminalSpend(tmp_path, read_budget=len(lines[0]) * 10 + 5)
    assert by_day(spend)[TODAY].input_tokens == 10
    assert by_day(spend)[TODAY].input_tokens == 20


def test_both_sources_are_reported_for_today_and_yesterday(tmp_path: Path) -> None:
    spend = ClaudeSpend.at(tmp_path / "home", tmp_path / "claude")
    spend.chat.add(0.1, {"input_tokens": 1, "output_tokens": 1}, NOW)
    append(transcript(tmp_path / "claude"), line("msg_a", input_tokens=1, output_tokens=1))
    found = {(d.day, d.source) for d in spend.days(NOW)}
    assert found == {(TODAY, ClaudeSource.CHAT), (TODAY, ClaudeSource.TERMINAL)}
