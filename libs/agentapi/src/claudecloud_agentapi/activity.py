"""``GET /activity``: what the instance is doing, read from tmux, ``/proc`` and the agent's own
counters. The activity service reads the :class:`ActivitySignals` part of it on every poll."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from .spend import ClaudeSpendDay

__all__ = ["ActivityReport", "ActivitySignals", "ProcessInfo"]


class ProcessInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    pid: int
    ppid: int
    command: str


class ActivitySignals(BaseModel):
    """What says a person is at work here (typing, a chat turn) and what says something is wrong
    (memory kills). The activity rules read only these, so a poll of thousands of agents parses
    no process lists."""

    model_config = ConfigDict(frozen=True)

    terminals: int = 0
    """Terminal WebSockets open on this agent."""
    tmux_clients: int = 0
    """Terminals attached to the ``claude`` tmux session right now."""
    tmux_input_at: float | None = None
    """When a terminal attached to the session last sent a key (epoch seconds, this machine's
    clock), ours or ``tmux attach`` over ``docker exec`` alike; None while none has typed."""
    chat_turns: int = 0
    """Chat turns running right now."""
    boot_id: str = ""
    """Names this run of the agent: the counters below start again when it changes."""
    inputs: int = 0
    """Terminal input messages received since the agent started."""
    seconds_since_input: float | None = None
    turns_started: int = 0
    """Chat prompts started since the agent started (each is a person's input)."""
    turns_ended: int = 0
    seconds_since_turn_ended: float | None = None
    oom_kills: int | None = None
    """Processes the kernel killed for lack of memory in this instance (cgroup v2), if readable."""
    claude_spend: list[ClaudeSpendDay] = []
    """Claude's running totals per UTC day and source for today and yesterday (the days that
    can still grow): chat turns as the SDK reported them, the terminal's from its transcripts."""


class ActivityReport(ActivitySignals):
    """The whole answer: the signals, and what runs (never counted as activity by itself)."""

    tmux_session: bool = False
    """Whether the ``claude`` tmux session exists."""
    processes: int = 0
    """Processes of the user's (the instance's own machinery left out)."""
    busy: list[ProcessInfo] = []
