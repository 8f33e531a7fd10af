"""Claude's spend in a workstation, as the agent sums it per UTC day and source (``GET
/activity`` carries the days that changed recently; activity forwards them to billing)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

MAX_USD = 1_000_000.0


class ClaudeSource(StrEnum):
    """Where Claude's tokens were spent in a workstation."""

    CHAT = "chat"
    """The dashboard's chat (the Agent SDK's result carries cost and tokens per turn)."""
    TERMINAL = "terminal"
    """Claude Code in the terminal (its transcript files carry token usage per message; the
    cost is priced from the model's published rates)."""


class ClaudeSpendDay(BaseModel):
    """What Claude spent in one workstation on one UTC day from one source, as running totals:
    a later report for the same (instance, day, source) replaces an earlier one when larger, so
    redelivery and reordering count once and totals never decrease."""

    model_config = ConfigDict(frozen=True)

    day: date
    source: ClaudeSource
    cost_usd: float = Field(ge=0, le=MAX_USD)
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    cache_read_tokens: int = Field(default=0, ge=0)
    cache_write_tokens: int = Field(default=0, ge=0)
    turns: int = Field(default=0, ge=0)
    """Chat turns, or assistant messages in the terminal's transcripts."""
