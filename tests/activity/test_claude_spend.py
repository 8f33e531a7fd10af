"""Claude's spend: activity sends billing the days whose totals grew since the last poll, and
only those."""

from __future__ import annotations

from typing import Any

from activity.spend import grown
from claudecloud_common.contracts.spend import ClaudeSource, ClaudeSpendDay
from tests.activity.conftest import PlatformFactory, Seen
from tests.support import eventually


def day(on: str, source: str, cost: float, tokens: int = 10) -> dict[str, Any]:
    return {
        "day": on,
        "source": source,
        "cost_usd": cost,
        "input_tokens": tokens,
        "output_tokens": tokens,
        "turns": 1,
    }


async def test_only_the_days_that_grew_are_sent_to_billing(
    platform: PlatformFactory, seen: dict[str, Seen]
) -> None:
    async with platform(freeze_after_seconds=3600) as p:
        machine, agent = await p.instance()
        agent.claude_spend = [
            day("2026-12-06", "chat", 1.5),
            day("2026-12-07", "chat", 0.25),
            day("2026-12-07", "terminal", 0.75),
        ]
        await p.step()
        first = await eventually(
            lambda: seen["claude_spend"].of(machine.instance_id), what="Claude's spend sent"
        )
        assert len(first) == 1
        assert first[0]["user_id"] == str(machine.user_id)
        assert {(d["day"], d["source"]) for d in first[0]["days"]} == {
            ("2026-12-06", "chat"),
            ("2026-12-07", "chat"),
            ("2026-12-07", "terminal"),
        }

        await p.step()  # nothing grew: nothing sent
        agent.claude_spend[1] = day("2026-12-07", "chat", 0.5, tokens=20)
        await p.step()
        sent = await eventually(
            lambda: (
                len(seen["claude_spend"].of(machine.instance_id)) >= 2
                and seen["claude_spend"].of(machine.instance_id)
            ),
            what="the grown day sent",
        )
        await p.step()  # and once only
        assert len(seen["claude_spend"].of(machine.instance_id)) == 2
        assert sent[1]["days"] == [
            ClaudeSpendDay.model_validate(agent.claude_spend[1]).model_dump(mode="json")
        ]


def test_a_smaller_total_after_a_restart_is_not_sent_and_old_days_are_forgotten() -> None:
    def of(raw: dict[str, Any]) -> ClaudeSpendDay:
        return ClaudeSpendDay.model_validate(raw)

    grew, kept = grown("", [of(day("2026-12-01", "chat", 2.0))])
    assert [d.cost_usd for d in grew] == [2.0]
    grew, kept = grown(kept, [of(day("2026-12-01", "chat", 1.0))])  # the agent forgot some
    assert grew == []
    grew, kept = grown(kept, [of(day("2026-12-07", "terminal", 0.1))])
    assert [d.source for d in grew] == [ClaudeSource.TERMINAL]
    assert "2026-12-01" not in kept  # long past: no longer reported, no longer kept
    assert grown("not json", [of(day("2026-12-07", "chat", 0.1))])[0]  # unreadable: sent again
