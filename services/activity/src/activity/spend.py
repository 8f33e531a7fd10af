"""Claude's spend as agents report it: which days grew since the last poll (a pure rule).

An agent reports running totals per UTC day and source for today and yesterday. Only the days
that grew are sent on to billing, which keeps the larger totals: a restart that forgets what was
seen, or a replica that sends a day again, can only repeat a total, never add it twice.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

from pydantic import TypeAdapter, ValidationError

from claudecloud_common.contracts.spend import ClaudeSpendDay

__all__ = ["grown"]

KEEP_DAYS = 3
"""Days of last-seen totals kept per instance (agents report two)."""
_DAYS = TypeAdapter(list[ClaudeSpendDay])
_TOTALS = (
    "cost_usd",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "turns",
)


def _key(day: ClaudeSpendDay) -> tuple[date, str]:
    return day.day, day.source.value


def _larger(day: ClaudeSpendDay, than: ClaudeSpendDay) -> bool:
    return any(getattr(day, name) > getattr(than, name) for name in _TOTALS)


def _max(a: ClaudeSpendDay, b: ClaudeSpendDay) -> ClaudeSpendDay:
    return a.model_copy(update={name: max(getattr(a, name), getattr(b, name)) for name in _TOTALS})


def read_seen(text: str) -> list[ClaudeSpendDay]:
    """The totals last sent, as kept in the row (nothing when empty or unreadable)."""
    try:
        return _DAYS.validate_json(text) if text else []
    except ValidationError:
        return []


def grown(seen: str, reported: list[ClaudeSpendDay]) -> tuple[list[ClaudeSpendDay], str]:
    """The reported days that grew past what was ``seen`` (kept as JSON text), and what is
    seen now (each total the larger of both; days long past forgotten)."""
    kept = {_key(day): day for day in read_seen(seen)}
    grew = [d for d in reported if _key(d) not in kept or _larger(d, kept[_key(d)])]
    for day in grew:
        known = kept.get(_key(day))
        kept[_key(day)] = day if known is None else _max(day, known)
    if not kept:
        return grew, seen
    newest = max(day for day, _ in kept)
    recent = [d for k, d in sorted(kept.items()) if k[0] > newest - timedelta(days=KEEP_DAYS)]
    return grew, json.dumps([d.model_dump(mode="json") for d in recent])
