"""The activity rules, as one pure function of what was known, what a poll saw, and the time.

Real activity pushes the deadline (now + idle threshold) forward: terminal input since the last
poll, a running chat turn, or a turn that ended less than the grace period ago. Passive things
never do: an open terminal or dashboard, status polling, health checks, processes or CPU.
Past the deadline the instance is paused (``idle``); a run with no human input at all (typing, a
prompt, a wake) longer than the maximum lifetime is paused however busy (``max_lifetime``).
An interval with terminal input or chat work is a usage sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from claudecloud_common.contracts.activity import HealthCondition
from claudecloud_common.contracts.instances import InstanceStatus, MachineActivity, PauseReason

from .agents import AgentReport
from .models import InstanceActivity

__all__ = ["Observation", "Outcome", "Policy", "Verdict", "decide"]


@dataclass(frozen=True)
class Policy:
    interval: timedelta
    idle_threshold: timedelta
    grace: timedelta
    max_lifetime: timedelta
    unhealthy_after: int


@dataclass(frozen=True)
class Observation:
    """One poll of one instance: the provider's view and the agent's (None when not had)."""

    machine: MachineActivity | None
    agent: AgentReport | None
    agent_error: str | None = None


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
    pause: PauseReason | None = None
    unhealthy: tuple[HealthCondition, str] | None = None
    recovered: HealthCondition | None = None


def decide(row: InstanceActivity, seen: Observation, now: datetime, policy: Policy) -> Outcome:
    """What to change, record and send after polling ``row``'s instance at ``now``."""
    out = Outcome(changes={"last_polled_at": now})
    machine = seen.machine
    if machine is None:
        # The provisioner did not answer: nothing was seen, not even where the agent is. Neither
        # the agent's health nor the deadline is judged on that (no pause while blind).
        return out
    if (
        machine is not None
        and machine.error is None
        and machine.status is not InstanceStatus.RUNNING
    ):
        # The provisioner says it no longer runs (an event we have not handled yet, or missed).
        out.changes["status"] = machine.status or InstanceStatus.DESTROYED
        return out
    _health(row, seen, now, policy, out)
    reasons = _activity(row, seen.agent, now, policy, out)
    _deadlines(row, reasons, seen, now, policy, out)
    return out


def _activity(
    row: InstanceActivity, agent: AgentReport | None, now: datetime, policy: Policy, out: Outcome
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
    deadline = row.deadline_at
    if reasons:
        deadline = now + policy.idle_threshold
        out.changes |= {
            "last_activity_at": now,
            "last_activity_reason": reasons[0],
            "deadline_at": deadline,
            "idle_recorded": False,
        }
        if out.usage_seconds > 0 or reasons[0] != "chat_turn_ended":
            detail = f"{_REASON_TEXT[reasons[0]]}; pauses when idle after {_at(deadline)}"
            out.verdicts.append(Verdict("active", reasons[0], detail, deadline))
    human = out.changes.get("last_human_input_at", row.last_human_input_at)
    if now >= human + policy.max_lifetime:
        hours = policy.max_lifetime.total_seconds() / 3600
        detail = f"no human input for {hours:g} h (since {_at(human)}), however busy"
        out.pause = PauseReason.MAX_LIFETIME
        out.verdicts.append(Verdict("pause", "max_lifetime", detail, deadline))
    elif now >= deadline:
        detail = f"no real activity since {_at(row.last_activity_at)}; {_passive(seen.agent)}"
        out.pause = PauseReason.IDLE
        out.verdicts.append(Verdict("pause", "idle", detail, deadline))
    elif not reasons and not row.idle_recorded:
        detail = f"no real activity ({_passive(seen.agent)}); pauses after {_at(deadline)}"
        out.changes["idle_recorded"] = True
        out.verdicts.append(Verdict("idle", "idle", detail, deadline))
    if out.pause is not None:
        out.changes |= {"status": InstanceStatus.PAUSING, "pause_requested_at": now}


def _passive(agent: AgentReport | None) -> str:
    if agent is None:
        return "the agent did not answer"
    seen = []
    if agent.terminals or agent.tmux_clients:
        seen.append(f"{max(agent.terminals, agent.tmux_clients)} terminal(s) open without input")
    return ", ".join(seen) or "no terminal input and no chat turn"


def _health(
    row: InstanceActivity, seen: Observation, now: datetime, policy: Policy, out: Outcome
) -> None:
    failed = 0 if seen.agent is not None else row.failed_polls + 1
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


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
