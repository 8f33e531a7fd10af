"""The activity rules, as pure functions of what was known, what a poll saw, and the time.

Real activity pushes the deadline forward: terminal input since the last poll, a running chat
turn, or a turn that ended less than the grace period ago. Passive things never do: an open
terminal or dashboard, status polling, health checks, processes or CPU.

Idle goes through two tiers. Past the deadline (the freeze setting after the last real activity)
the instance is frozen: memory and every process kept, nothing runs. A frozen instance is stopped
(only its volume kept) once frozen for the stop setting, whatever froze it. Where the provider
cannot keep memory there is one tier: stopped once idle for the stop setting. A run with no human
input at all (typing, a prompt, a wake) longer than the maximum lifetime goes the same way however
busy (``max_lifetime``).

A frozen machine's agent cannot answer and is never asked: frozen is not unhealthy, so no poll of
a frozen instance fails, names a condition or escalates one found before. When the shared host
runs short of memory, the longest-frozen instances are stopped first (:func:`relieve`).

An interval with terminal input or chat work is a running usage sample; time frozen is a frozen
one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from claudecloud_agentapi import ActivitySignals
from claudecloud_common.contracts.activity import HealthCondition
from claudecloud_common.contracts.instances import (
    HostMemory,
    InstanceStatus,
    MachineActivity,
    PauseReason,
)

from .models import InstanceActivity

__all__ = ["Observation", "Outcome", "Pause", "Policy", "Verdict", "decide", "relieve"]

S = InstanceStatus
MAX_SAMPLE_SECONDS = 86_400.0
"""The longest usage sample (the contract's bound); a longer frozen stretch unseen is caught up a
day per poll."""
MB = 1 << 20


@dataclass(frozen=True)
class Policy:
    interval: timedelta
    freeze_after: timedelta
    stop_after: timedelta
    grace: timedelta
    max_lifetime: timedelta
    unhealthy_after: int
    min_available_bytes: int = 0
    """Host memory pressure below this many available bytes; 0: never."""
    idle_warning: timedelta = timedelta(0)
    """An idle instance whose deadline is this close is warned about (the user's webhooks);
    0: never."""

    def idle_after(self, keeps_memory: bool) -> timedelta:
        """How long idle before the first step: a freeze, or a stop where memory cannot be kept."""
        return self.freeze_after if keeps_memory else self.stop_after


@dataclass(frozen=True)
class Observation:
    """One poll of one instance: the provider's view and the agent's (None when not had), and
    whether its provider can freeze it."""

    machine: MachineActivity | None
    agent: ActivitySignals | None
    agent_error: str | None = None
    keeps_memory: bool = False


@dataclass(frozen=True)
class Pause:
    """A pause to send: freeze (``keep_memory``) or stop."""

    reason: PauseReason
    keep_memory: bool


@dataclass(frozen=True)
class Verdict:
    decision: str
    reason: str
    detail: str
    deadline_at: datetime | None = None


@dataclass
class Outcome:
    changes: dict[str, Any] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)
    usage_seconds: float = 0.0
    frozen_seconds: float = 0.0
    pause: Pause | None = None
    unhealthy: tuple[HealthCondition, str] | None = None
    recovered: HealthCondition | None = None
    idle_warning: datetime | None = None
    """The deadline an idle instance is close to (it is frozen or stopped then)."""


def decide(row: InstanceActivity, seen: Observation, now: datetime, policy: Policy) -> Outcome:
    """What to change, record and send after polling ``row``'s instance at ``now``."""
    out = Outcome(changes={"last_polled_at": now})
    machine = seen.machine
    if machine is None:
        # The provisioner did not answer: nothing was seen, not even where the agent is. Neither
        # the agent's health nor the deadline is judged on that (no pause while blind).
        return out
    out.changes["keeps_memory"] = seen.keeps_memory
    if machine.error is None:
        out.changes["memory_bytes"] = machine.memory_bytes
        if machine.status is S.FROZEN:
            _frozen(row, now, policy, out)
            return out
        if machine.status is not S.RUNNING:
            # The provisioner says it no longer runs (an event we have not handled yet, or missed).
            out.changes["status"] = machine.status or S.DESTROYED
            return out
    if row.status is S.FROZEN:
        # Thawed, and the wake's event (which starts a new run) is not handled yet.
        return out
    _health(row, seen, now, policy, out)
    reasons = _activity(row, seen.agent, now, policy, out)
    _deadlines(row, reasons, seen, now, policy, out)
    return out


def _frozen(row: InstanceActivity, now: datetime, policy: Policy, out: Outcome) -> None:
    """A frozen instance: its frozen time metered, stopped once frozen long enough. Nothing about
    its health: its agent cannot answer, and that is not a fault."""
    since = row.frozen_at or now  # frozen without our hearing of it: from now on
    if row.status is not S.FROZEN or row.frozen_at is None:
        out.changes |= {"status": S.FROZEN, "frozen_at": since}
    metered = row.frozen_metered_until or since
    seconds = min(max(0.0, (now - metered).total_seconds()), MAX_SAMPLE_SECONDS)
    if seconds > 0:
        out.frozen_seconds = seconds
        out.changes["frozen_metered_until"] = metered + timedelta(seconds=seconds)
    if now >= since + policy.stop_after:
        detail = (
            f"frozen since {at(since)} ({_hours(policy.stop_after)}), idle since "
            f"{at(row.last_activity_at)}: only its volume is kept"
        )
        out.pause = Pause(PauseReason.IDLE, keep_memory=False)
        out.verdicts.append(Verdict("stop", "idle", detail))
        out.changes |= {"status": S.PAUSING, "pause_requested_at": now}


def relieve(
    frozen: Sequence[InstanceActivity], host: HostMemory, policy: Policy
) -> list[tuple[InstanceActivity, Verdict]]:
    """Which frozen instances to stop when the host runs short of memory: the longest-frozen
    first, as many as the memory they hold covers the shortfall, and at least one (one whose
    memory the provider cannot tell ends the choice: the next poll sees what it freed)."""
    shortfall = policy.min_available_bytes - host.available_bytes
    if policy.min_available_bytes <= 0 or shortfall <= 0:
        return []
    chosen: list[tuple[InstanceActivity, Verdict]] = []
    freed = 0
    for row in sorted(frozen, key=lambda r: (r.frozen_at or r.status_at, str(r.instance_id))):
        if chosen and freed >= shortfall:
            break
        held = "an unknown amount" if row.memory_bytes is None else f"{row.memory_bytes // MB} MB"
        detail = (
            f"the host has {host.available_bytes // MB} MB available, under the "
            f"{policy.min_available_bytes // MB} MB minimum: the longest-frozen are stopped "
            f"first (frozen since {at(row.frozen_at or row.status_at)}, holding {held})"
        )
        chosen.append((row, Verdict("stop", PauseReason.HOST_MEMORY.value, detail)))
        if row.memory_bytes is None:
            break  # what it frees is unknown: the next poll sees whether it was enough
        freed += row.memory_bytes
    return chosen


def _activity(
    row: InstanceActivity,
    agent: ActivitySignals | None,
    now: datetime,
    policy: Policy,
    out: Outcome,
) -> list[str]:
    """The real activity seen since the last poll, newest first; records the agent's counters."""
    reasons = []
    last_turn_ended = row.last_turn_ended_at
    if agent is not None:
        same_run = agent.boot_id == row.agent_boot_id
        inputs = agent.inputs - row.agent_inputs if same_run else agent.inputs
        if _typed_in_tmux(agent.tmux_input_at, row.tmux_input_at):
            inputs += 1  # keys from a terminal attached another way (``docker exec tmux attach``)
        started = agent.turns_started - row.agent_turns_started if same_run else agent.turns_started
        ended = agent.turns_ended - row.agent_turns_ended if same_run else agent.turns_ended
        out.changes |= {
            "agent_boot_id": agent.boot_id,
            "agent_inputs": agent.inputs,
            "agent_turns_started": agent.turns_started,
            "agent_turns_ended": agent.turns_ended,
            "tmux_input_at": agent.tmux_input_at or row.tmux_input_at,
        }
        if inputs > 0 or started > 0:
            out.changes["last_human_input_at"] = now
        if inputs > 0:
            reasons.append("terminal_input")
        if agent.chat_turns > 0:
            reasons.append("chat_turn_running")
        if ended > 0:
            ago = min(agent.seconds_since_turn_ended or 0.0, policy.interval.total_seconds())
            last_turn_ended = now - timedelta(seconds=ago)
            out.changes["last_turn_ended_at"] = last_turn_ended
        if started > 0 or ended > 0 or inputs > 0 or agent.chat_turns > 0:
            out.usage_seconds = _since_last_poll(row, now, policy)
    if last_turn_ended is not None and now - last_turn_ended <= policy.grace:
        reasons.append("chat_turn_ended")
    return reasons


def _typed_in_tmux(now_reported: float | None, before: float | None) -> bool:
    return now_reported is not None and (before is None or now_reported > before)


def _since_last_poll(row: InstanceActivity, now: datetime, policy: Policy) -> float:
    start = max(row.last_polled_at or row.run_started_at, row.run_started_at)
    return max(0.0, min((now - start).total_seconds(), policy.interval.total_seconds()))


_REASON_TEXT = {
    "terminal_input": "someone typed in a terminal",
    "chat_turn_running": "a Claude chat turn is running",
    "chat_turn_ended": "a Claude chat turn ended less than the grace period ago",
}


def _deadlines(
    row: InstanceActivity,
    reasons: list[str],
    seen: Observation,
    now: datetime,
    policy: Policy,
    out: Outcome,
) -> None:
    keeps = seen.keeps_memory
    action = "freeze" if keeps else "stop"
    deadline = (now if reasons else row.last_activity_at) + policy.idle_after(keeps)
    out.changes["deadline_at"] = deadline
    if reasons:
        out.changes |= {
            "last_activity_at": now,
            "last_activity_reason": reasons[0],
            "idle_recorded": False,
        }
        if out.usage_seconds > 0 or reasons[0] != "chat_turn_ended":
            detail = f"{_REASON_TEXT[reasons[0]]}; {action}s when idle after {at(deadline)}"
            out.verdicts.append(Verdict("active", reasons[0], detail, deadline))
    human = out.changes.get("last_human_input_at", row.last_human_input_at)
    if now >= human + policy.max_lifetime:
        hours = _hours(policy.max_lifetime)
        detail = f"no human input for {hours} (since {at(human)}), however busy"
        _pause(PauseReason.MAX_LIFETIME, detail + _then(keeps, now, policy), keeps, out)
    elif now >= deadline:
        detail = f"idle since {at(row.last_activity_at)}: {_passive(seen.agent)}"
        _pause(PauseReason.IDLE, detail + _then(keeps, now, policy), keeps, out)
    else:
        if not reasons and not row.idle_recorded:
            detail = f"no real activity ({_passive(seen.agent)}); {action}s after {at(deadline)}"
            out.changes["idle_recorded"] = True
            out.verdicts.append(Verdict("idle", "idle", detail, deadline))
        if not reasons and policy.idle_warning and deadline - now <= policy.idle_warning:
            out.idle_warning = deadline


def _pause(reason: PauseReason, detail: str, keeps: bool, out: Outcome) -> None:
    out.pause = Pause(reason, keep_memory=keeps)
    out.verdicts.append(Verdict("freeze" if keeps else "stop", reason.value, detail))
    out.changes |= {"status": S.PAUSING, "pause_requested_at": out.changes["last_polled_at"]}


def _then(keeps: bool, now: datetime, policy: Policy) -> str:
    if keeps:
        return f"; frozen now, stops at {at(now + policy.stop_after)} unless woken"
    return "; stopped (its provider cannot keep memory, so there is no frozen step)"


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g} h"


def _passive(agent: ActivitySignals | None) -> str:
    if agent is None:
        return "the agent did not answer"
    seen = []
    if agent.terminals or agent.tmux_clients:
        seen.append(f"{max(agent.terminals, agent.tmux_clients)} terminal(s) open without input")
    return ", ".join(seen) or "no terminal input and no chat turn"


def _health(
    row: InstanceActivity, seen: Observation, now: datetime, policy: Policy, out: Outcome
) -> None:
    frozen = seen.machine is not None and seen.machine.frozen
    # A machine frozen outside a freeze we know of (one under way): its silence is no failure.
    failed = 0 if seen.agent is not None else row.failed_polls + (0 if frozen else 1)
    out.changes["failed_polls"] = failed
    condition, detail = _condition(row, seen, failed, policy)
    machine, agent = seen.machine, seen.agent
    if machine is not None and machine.error is None:
        out.changes |= {
            "machine_restarts": machine.restarts,
            "processes": machine.processes,
            "cpu_seconds": machine.cpu_seconds,
        }
    if agent is not None and agent.oom_kills is not None:
        out.changes["oom_kills"] = agent.oom_kills
    if condition == row.condition:
        return
    out.changes |= {"condition": condition, "condition_detail": detail, "condition_since": now}
    if condition is not None:
        out.unhealthy = (condition, detail or "")
        out.verdicts.append(Verdict("unhealthy", condition.value, detail or ""))
    else:
        assert row.condition is not None
        out.recovered = row.condition
        text = f"{row.condition.value} cleared: the agent answers and the machine looks well"
        out.verdicts.append(Verdict("recovered", row.condition.value, text))


def _condition(
    row: InstanceActivity, seen: Observation, failed: int, policy: Policy
) -> tuple[HealthCondition | None, str | None]:
    machine, agent = seen.machine, seen.agent
    if machine is not None and machine.error is None:
        restarted = row.machine_restarts is not None and machine.restarts > row.machine_restarts
        if machine.restarting or restarted:
            return HealthCondition.RESTARTING, f"the machine restarted ({machine.restarts} times)"
        if machine.oom_killed:
            return HealthCondition.OOM_KILLED, "the machine was killed for lack of memory"
    if agent is not None and agent.oom_kills is not None and row.oom_kills is not None:
        killed = agent.oom_kills - row.oom_kills
        if killed > 0:
            return HealthCondition.OOM_KILLED, f"{killed} process(es) killed for lack of memory"
    if failed >= policy.unhealthy_after:
        why = seen.agent_error or "no answer"
        return HealthCondition.AGENT_UNREACHABLE, f"{failed} polls in a row failed: {why}"
    if agent is None and row.condition is not None:
        return row.condition, row.condition_detail  # not known to be well yet
    return None, None


def at(moment: datetime) -> str:
    """A moment as decisions say it."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
