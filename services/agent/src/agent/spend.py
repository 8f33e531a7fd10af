"""Claude's spend in this workstation, summed per UTC day and source (``GET /activity`` carries
today's and yesterday's running totals; activity forwards the days that grew to billing).

- **Chat**: each turn's result from the Agent SDK carries its cost (Claude Code's own estimate)
  and tokens. The totals are kept in a small file on the volume, so a restarted agent goes on
  from them rather than reporting less than billing already has.
- **Terminal**: Claude Code's transcripts (``<config>/projects/**/*.jsonl``) carry each assistant
  message's token usage and model. A message is written once per content block, so lines are
  deduplicated by message id and request id (the largest counts win: early lines may carry a
  partial ``output_tokens``), which also counts a conversation copied by a resume once. Lines
  the SDK wrote (``entrypoint`` ``sdk-*``: the chat's own turns) are left to the chat's results.
  Files are read incrementally: each poll reads only what was appended since the last.
  Tokens are priced from :data:`PRICES`.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from claudecloud_agentapi import ClaudeSource, ClaudeSpendDay

__all__ = ["PRICES", "ChatSpend", "ClaudeSpend", "Rates", "TerminalSpend", "Tokens", "rates_for"]

MILLION = 1_000_000
KEEP_DAYS = 7
"""Days of chat totals the file keeps (only today and yesterday are reported)."""
READ_BUDGET_BYTES = 16 * 1024 * 1024
"""Transcript bytes one poll reads at most; the rest is read by the next (a first poll after a
start may find long transcripts)."""


@dataclass(frozen=True)
class Rates:
    """US dollars per million tokens."""

    input: float
    output: float
    cache_write: float
    """A 5-minute cache write (1.25 x input); a 1-hour write costs 2 x input."""
    cache_read: float


# Anthropic's published API prices per million tokens (platform.claude.com/docs/en/about-claude/
# pricing, "Model pricing": base input, 5m cache writes, cache hits, output), as of 2026-12.
# The first prefix a model's name starts with wins; unknown models are priced as Sonnet (the
# default model of Claude Code), so an estimate is never zero.
PRICES: tuple[tuple[str, Rates], ...] = (
    ("claude-opus-4-1", Rates(15.0, 75.0, 18.75, 1.50)),
    ("claude-opus-4-0", Rates(15.0, 75.0, 18.75, 1.50)),
    ("claude-opus-4-2", Rates(15.0, 75.0, 18.75, 1.50)),  # the Opus 4 release (dated name)
    ("claude-opus-4", Rates(5.0, 25.0, 6.25, 0.50)),  # 4.5 and later
    ("claude-3-opus", Rates(15.0, 75.0, 18.75, 1.50)),
    ("claude-sonnet", Rates(3.0, 15.0, 3.75, 0.30)),
    ("claude-3-7-sonnet", Rates(3.0, 15.0, 3.75, 0.30)),
    ("claude-3-5-sonnet", Rates(3.0, 15.0, 3.75, 0.30)),
    ("claude-haiku-4", Rates(1.0, 5.0, 1.25, 0.10)),
    ("claude-3-5-haiku", Rates(0.80, 4.0, 1.0, 0.08)),
    ("claude-3-haiku", Rates(0.25, 1.25, 0.30, 0.03)),
)
DEFAULT_RATES = Rates(3.0, 15.0, 3.75, 0.30)


def rates_for(model: str) -> Rates:
    """The rates of ``model`` (a name like ``claude-sonnet-4-5-20250929``)."""
    name = model.lower()
    return next((rates for prefix, rates in PRICES if name.startswith(prefix)), DEFAULT_RATES)


@dataclass
class Tokens:
    """What some Claude work used and cost."""

    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    turns: int = 0

    def add(self, other: Tokens) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def day(self, day: date, source: ClaudeSource) -> ClaudeSpendDay:
        return ClaudeSpendDay(day=day, source=source, **{**asdict(self), "cost_usd": self.usd})

    @property
    def usd(self) -> float:
        return round(self.cost_usd, 6)


def _count(usage: dict[str, Any], name: str) -> int:
    value = usage.get(name)
    return value if isinstance(value, int) and value > 0 else 0


def priced(usage: dict[str, Any], model: str) -> Tokens:
    """One assistant message's tokens (its ``message.usage``) and their price."""
    rates = rates_for(model)
    written = _count(usage, "cache_creation_input_tokens")
    split = usage.get("cache_creation")
    hour = _count(split if isinstance(split, dict) else usage, "ephemeral_1h_input_tokens")
    tokens = Tokens(
        input_tokens=_count(usage, "input_tokens"),
        output_tokens=_count(usage, "output_tokens"),
        cache_read_tokens=_count(usage, "cache_read_input_tokens"),
        cache_write_tokens=written,
        turns=1,
    )
    hour = min(hour, written)
    tokens.cost_usd = (
        tokens.input_tokens * rates.input
        + tokens.output_tokens * rates.output
        + tokens.cache_read_tokens * rates.cache_read
        + (written - hour) * rates.cache_write
        + hour * rates.input * 2
    ) / MILLION
    return tokens


def today(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(UTC).date()


class ChatSpend:
    """The chat's totals per UTC day, as the SDK's results reported them, kept in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._days: dict[date, Tokens] = self._load()

    def _load(self) -> dict[date, Tokens]:
        try:
            raw = json.loads(self.path.read_text())
            return {date.fromisoformat(k): Tokens(**v) for k, v in raw["days"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}  # none yet, or unreadable: counted from now

    def add(self, cost_usd: float | None, usage: dict[str, Any] | None, now: datetime) -> None:
        """Count one turn's result (its ``total_cost_usd`` and ``usage``)."""
        usage = usage or {}
        turn = Tokens(
            cost_usd=max(cost_usd or 0.0, 0.0),
            input_tokens=_count(usage, "input_tokens"),
            output_tokens=_count(usage, "output_tokens"),
            cache_read_tokens=_count(usage, "cache_read_input_tokens"),
            cache_write_tokens=_count(usage, "cache_creation_input_tokens"),
            turns=1,
        )
        day = today(now)
        with self._lock:
            self._days.setdefault(day, Tokens()).add(turn)
            for old in [d for d in self._days if d <= day - timedelta(days=KEEP_DAYS)]:
                del self._days[old]
            self._save()

    def _save(self) -> None:
        body = {"days": {d.isoformat(): asdict(t) for d, t in sorted(self._days.items())}}
        with contextlib.suppress(OSError):  # a full disk loses a count, never the turn
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(f".{self.path.name}.partial")
            partial.write_text(json.dumps(body))
            partial.replace(self.path)

    def days(self, since: date) -> list[ClaudeSpendDay]:
        with self._lock:
            return [
                t.day(d, ClaudeSource.CHAT) for d, t in sorted(self._days.items()) if d >= since
            ]


@dataclass
class _Seen:
    """A transcript file as far as it was read."""

    inode: int
    offset: int


@dataclass
class _Message:
    day: date
    model: str
    usage: dict[str, int] = field(default_factory=dict)


_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


class TerminalSpend:
    """The terminal's Claude Code totals per UTC day, from the transcripts under ``home``."""

    def __init__(self, home: Path, read_budget: int = READ_BUDGET_BYTES) -> None:
        self.home = home
        self.read_budget = read_budget
        self._files: dict[Path, _Seen] = {}
        self._messages: dict[str, _Message] = {}
        self._lock = threading.Lock()

    def days(self, since: date) -> list[ClaudeSpendDay]:
        """Read what was appended since the last call; the totals of ``since`` and later."""
        with self._lock:
            self._read_new(since)
            self._messages = {k: m for k, m in self._messages.items() if m.day >= since}
            totals: dict[date, Tokens] = {}
            for message in self._messages.values():
                totals.setdefault(message.day, Tokens()).add(priced(message.usage, message.model))
        return [t.day(d, ClaudeSource.TERMINAL) for d, t in sorted(totals.items())]

    def _read_new(self, since: date) -> None:
        oldest = datetime.combine(since, datetime.min.time(), UTC).timestamp()
        budget = self.read_budget
        for path, stat in self._transcripts(oldest):
            seen = self._files.get(path)
            if seen is None or seen.inode != stat.st_ino or stat.st_size < seen.offset:
                seen = self._files[path] = _Seen(stat.st_ino, 0)  # new, replaced or cut
            if stat.st_size == seen.offset or budget <= 0:
                continue
            budget -= self._read(path, seen, budget, since)

    def _transcripts(self, modified_after: float) -> Iterator[tuple[Path, os.stat_result]]:
        with contextlib.suppress(OSError):
            for path in (self.home / "projects").rglob("*.jsonl"):
                with contextlib.suppress(OSError):
                    stat = path.stat()
                    if stat.st_mtime >= modified_after:
                        yield path, stat

    def _read(self, path: Path, seen: _Seen, budget: int, since: date) -> int:
        try:
            with path.open("rb") as handle:
                handle.seek(seen.offset)
                chunk = handle.read(budget)
        except OSError:
            return 0
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits
        if not complete and len(chunk) >= budget:
            complete = chunk  # one line longer than the budget: skip past it, it is no usage
        seen.offset += len(complete)
        for line in complete.splitlines():
            if b'"usage"' in line and b'"assistant"' in line:
                self._take(line, since)
        return len(complete)

    def _take(self, line: bytes, since: date) -> None:
        try:
            entry = json.loads(line)
            message = entry["message"]
            usage = message["usage"]
            day = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).date()
        except (ValueError, KeyError, TypeError, AttributeError):
            return
        entrypoint = entry.get("entrypoint")
        if entry.get("type") != "assistant" or not isinstance(usage, dict) or day < since:
            return
        if isinstance(entrypoint, str) and entrypoint.startswith("sdk"):
            return  # the chat's own turns: counted from their results
        key = f"{message.get('id') or entry.get('uuid')}:{entry.get('requestId')}"
        found = self._messages.setdefault(key, _Message(day, str(message.get("model") or "")))
        for name in _USAGE_FIELDS:
            found.usage[name] = max(found.usage.get(name, 0), _count(usage, name))
        split = usage.get("cache_creation")
        if isinstance(split, dict):
            hour = _count(split, "ephemeral_1h_input_tokens")
            found.usage["ephemeral_1h_input_tokens"] = max(
                found.usage.get("ephemeral_1h_input_tokens", 0), hour
            )


class ClaudeSpend:
    """Both sources; what ``GET /activity`` reports."""

    def __init__(self, chat: ChatSpend, terminal: TerminalSpend) -> None:
        self.chat = chat
        self.terminal = terminal

    @classmethod
    def at(cls, home: Path, claude_config: Path) -> ClaudeSpend:
        """Chat totals kept under ``home``; transcripts under Claude's ``claude_config``."""
        chat_file = home / ".config" / "claudecloud" / "claude-spend.json"
        return cls(ChatSpend(chat_file), TerminalSpend(claude_config))

    def days(self, now: datetime | None = None) -> list[ClaudeSpendDay]:
        """Today's and yesterday's running totals per source (days with nothing left out)."""
        since = today(now) - timedelta(days=1)
        return self.chat.days(since) + self.terminal.days(since)
