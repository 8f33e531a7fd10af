"""The idle tiers, frozen health and host memory pressure as tables: the pure rules, no I/O.

Times are minutes after a fixed start; the policy is the defaults (freeze after 10 min idle,
stop after 2 h frozen, or after 2 h idle where memory cannot be kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from activity.models import InstanceActivity
from activity.rules import Observation, Pause, Policy, decide, relieve
from claudecloud_agentapi import ActivitySignals
from claudecloud_common.contracts.activity import HealthCondition
from claudecloud_common.contracts.instances import (
    HostMemory,
    InstanceStatus,
    MachineActivity,
    PauseReason,
)

pytestmark = pytest.mark.unit

S = InstanceStatus
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
MB = 1 << 20
POLICY = Policy(
    interval=timedelta(minutes=5),
    freeze_after=timedelta(minutes=10),
    stop_after=timedelta(hours=2),
    grace=timedelta(minutes=5),
    max_lifetime=timedelta(hours=12),
    unhealthy_after=3,
    min_available_bytes=512 * MB,
)
ID = UUID(int=1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def row(**values: Any) -> InstanceActivity:
    """An instance followed since T0, polled every 5 min, nothing real done since it started."""
    base: dict[str, Any] = {
        "instance_id": ID,
        "user_id": UUID(int=2),
        "status": S.RUNNING,
        "status_at": T0,
        "run_started_at": T0,
        "next_poll_at": T0,
        "last_activity_at": T0,
        "last_activity_reason": "started",
        "last_human_input_at": T0,
        "deadline_at": T0,
        "agent_boot_id": "boot",
        "oom_kills": 0,
        "machine_restarts": 0,
    }
    return InstanceActivity(**(base | values))


def running(**values: Any) -> MachineActivity:
    return MachineActivity(instance_id=ID, status=S.RUNNING, running=True, healthy=True, **values)


def frozen(**values: Any) -> MachineActivity:
    return MachineActivity(instance_id=ID, status=S.FROZEN, running=True, frozen=True, **values)


QUIET = ActivitySignals(boot_id="boot", oom_kills=0)
TYPED = ActivitySignals(boot_id="boot", oom_kills=0, inputs=1)


def seen(
    machine: MachineActivity | None, agent: ActivitySignals | None, *, keeps: bool
) -> Observation:
    return Observation(machine, agent, None if agent else "no answer", keeps_memory=keeps)


@dataclass(frozen=True)
class Case:
    name: str
    row: InstanceActivity
    seen: Observation
    now: float
    """Minutes after T0."""
    pause: Pause | None = None
    decisions: list[str] = field(default_factory=list)
    """The verdicts recorded, as ``decision:reason``."""
    changes: dict[str, Any] = field(default_factory=dict)
    """Values the outcome must set (a subset)."""
    frozen_minutes: float = 0.0


IDLE_FREEZE = Pause(PauseReason.IDLE, keep_memory=True)
IDLE_STOP = Pause(PauseReason.IDLE, keep_memory=False)

CASES = [
    Case(
        "quiet, under the freeze setting: an idle note saying when it freezes",
        row(),
        seen(running(), QUIET, keeps=True),
        now=5,
        decisions=["idle:idle"],
        changes={"deadline_at": at(10)},
    ),
    Case(
        "quiet for the freeze setting: frozen (memory kept)",
        row(idle_recorded=True),
        seen(running(), QUIET, keeps=True),
        now=10,
        pause=IDLE_FREEZE,
        decisions=["freeze:idle"],
        changes={"status": S.PAUSING, "pause_requested_at": at(10)},
    ),
    Case(
        "typing at the freeze setting: awake, the deadline moved on",
        row(idle_recorded=True),
        seen(running(), TYPED, keeps=True),
        now=10,
        decisions=["active:terminal_input"],
        changes={"deadline_at": at(20), "last_activity_at": at(10)},
    ),
    Case(
        "no memory kept (hetzner): quiet for the freeze setting is nothing yet",
        row(idle_recorded=True),
        seen(running(), QUIET, keeps=False),
        now=10,
        changes={"deadline_at": at(120)},
    ),
    Case(
        "no memory kept: quiet for the stop setting, stopped (one tier)",
        row(idle_recorded=True),
        seen(running(), QUIET, keeps=False),
        now=120,
        pause=IDLE_STOP,
        decisions=["stop:idle"],
    ),
    Case(
        "no human input for the max lifetime however busy: frozen where memory is kept",
        row(last_activity_at=at(715), last_turn_ended_at=at(715)),
        seen(running(), ActivitySignals(boot_id="boot", oom_kills=0, chat_turns=1), keeps=True),
        now=720,
        pause=Pause(PauseReason.MAX_LIFETIME, keep_memory=True),
        decisions=["active:chat_turn_running", "freeze:max_lifetime"],
    ),
    Case(
        "frozen an hour: its time metered since the last poll, nothing else",
        row(status=S.FROZEN, frozen_at=at(10), frozen_metered_until=at(65), last_polled_at=at(65)),
        seen(frozen(), None, keeps=True),
        now=70,
        frozen_minutes=5,
        changes={"frozen_metered_until": at(70)},
    ),
    Case(
        "frozen for the stop setting: stopped (only the volume kept)",
        row(status=S.FROZEN, frozen_at=at(10), frozen_metered_until=at(125)),
        seen(frozen(), None, keeps=True),
        now=130,
        pause=IDLE_STOP,
        decisions=["stop:idle"],
        frozen_minutes=5,
        changes={"status": S.PAUSING},
    ),
    Case(
        "frozen, its agent silent two polls before: no failure counted, no condition",
        row(status=S.FROZEN, frozen_at=at(10), frozen_metered_until=at(10), failed_polls=2),
        seen(frozen(), None, keeps=True),
        now=15,
        frozen_minutes=5,
    ),
    Case(
        "frozen with a condition open before the freeze: neither escalated nor cleared",
        row(
            status=S.FROZEN,
            frozen_at=at(10),
            frozen_metered_until=at(10),
            failed_polls=3,
            condition=HealthCondition.AGENT_UNREACHABLE,
        ),
        seen(frozen(), None, keeps=True),
        now=15,
        frozen_minutes=5,
    ),
    Case(
        "frozen without our hearing of it (a missed event): followed as frozen from now",
        row(idle_recorded=True),
        seen(frozen(), None, keeps=True),
        now=15,
        changes={"status": S.FROZEN, "frozen_at": at(15)},
    ),
    Case(
        "a freeze under way (the provider sees it frozen, still running to us): no failure",
        row(idle_recorded=True, failed_polls=2),
        seen(running(frozen=True), None, keeps=True),
        now=5,
        changes={"failed_polls": 2},
    ),
    Case(
        "the provisioner does not answer: nothing judged",
        row(status=S.FROZEN, frozen_at=at(10), frozen_metered_until=at(10)),
        seen(None, None, keeps=True),
        now=300,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decide(case: Case) -> None:
    out = decide(case.row, case.seen, at(case.now), POLICY)
    assert out.pause == case.pause
    assert [f"{v.decision}:{v.reason}" for v in out.verdicts] == case.decisions
    assert {k: out.changes.get(k) for k in case.changes} == case.changes
    assert out.frozen_seconds == case.frozen_minutes * 60
    # Frozen is not unhealthy: nothing about a frozen one's health is ever raised or cleared.
    if case.seen.machine is not None and case.seen.machine.frozen:
        assert out.unhealthy is None
        assert out.recovered is None
        assert out.changes.get("condition", case.row.condition) == case.row.condition
        assert out.changes.get("failed_polls", case.row.failed_polls) == case.row.failed_polls


def test_the_stop_of_a_frozen_one_says_since_when() -> None:
    out = decide(
        row(status=S.FROZEN, frozen_at=at(10), last_activity_at=at(0)),
        seen(frozen(), None, keeps=True),
        at(130),
        POLICY,
    )
    [verdict] = out.verdicts
    assert "frozen since 2026-12-07 09:10:00 UTC (2 h)" in verdict.detail
    assert "idle since 2026-12-07 09:00:00 UTC" in verdict.detail


def test_the_freeze_says_when_it_stops() -> None:
    out = decide(row(idle_recorded=True), seen(running(), QUIET, keeps=True), at(10), POLICY)
    [verdict] = out.verdicts
    assert verdict.detail.startswith("idle since 2026-12-07 09:00:00 UTC")
    assert "stops at 2026-12-07 11:10:00 UTC unless woken" in verdict.detail


def frozen_row(name: int, minutes: float, mb: int | None) -> InstanceActivity:
    held = None if mb is None else mb * MB
    return row(
        instance_id=UUID(int=name), status=S.FROZEN, frozen_at=at(minutes), memory_bytes=held
    )


A, B, C = frozen_row(10, 30, 300), frozen_row(11, 5, 200), frozen_row(12, 60, 400)
"""B froze first, then A, then C."""


@pytest.mark.parametrize(
    ("available_mb", "frozen", "minimum_mb", "stopped"),
    [
        pytest.param(600, [A, B, C], 512, [], id="enough memory: nothing stopped"),
        pytest.param(400, [A, B, C], 512, [B], id="short 112 MB: the longest-frozen covers it"),
        pytest.param(200, [A, B, C], 512, [B, A], id="short 312 MB: the two longest-frozen"),
        pytest.param(0, [A, B, C], 2048, [B, A, C], id="short more than all hold: all of them"),
        pytest.param(
            500,
            [frozen_row(13, 1, None), A],
            512,
            [frozen_row(13, 1, None)],
            id="memory held unknown: still one, the longest-frozen",
        ),
        pytest.param(10, [A, B, C], 0, [], id="the minimum set to 0: never"),
        pytest.param(10, [], 512, [], id="nothing frozen: nothing to stop"),
    ],
)
def test_host_memory_pressure_stops_the_longest_frozen_first(
    available_mb: int, frozen: list[InstanceActivity], minimum_mb: int, stopped: list[Any]
) -> None:
    policy = Policy(**(POLICY.__dict__ | {"min_available_bytes": minimum_mb * MB}))
    host = HostMemory(total_bytes=4096 * MB, available_bytes=available_mb * MB)
    chosen = relieve(frozen, host, policy)
    assert [r.instance_id for r, _ in chosen] == [r.instance_id for r in stopped]
    for _, verdict in chosen:
        assert (verdict.decision, verdict.reason) == ("stop", "host_memory")
        assert f"the host has {available_mb} MB available, under the {minimum_mb} MB" in (
            verdict.detail
        )


WARNING = Policy(**(POLICY.__dict__ | {"idle_warning": timedelta(minutes=5)}))


@pytest.mark.parametrize(
    ("name", "minutes", "agent", "warned"),
    [
        ("idle, the deadline (10 min) more than 5 min away: no warning yet", 4, QUIET, None),
        ("idle, the deadline 5 min away: warned of it", 5, QUIET, at(10)),
        ("idle, the deadline a minute away: warned of the same deadline", 9, QUIET, at(10)),
        ("someone typed: the deadline moves away, no warning", 9, TYPED, None),
        ("the deadline passed: frozen, not warned", 10, QUIET, None),
    ],
)
def test_an_idle_instance_near_its_deadline_is_warned_of_it(
    name: str, minutes: float, agent: ActivitySignals, warned: datetime | None
) -> None:
    out = decide(row(idle_recorded=True), seen(running(), agent, keeps=True), at(minutes), WARNING)
    assert out.idle_warning == warned, name
    assert decide(row(), seen(running(), QUIET, keeps=True), at(9), POLICY).idle_warning is None
