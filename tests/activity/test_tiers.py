"""Idle through both tiers on the real bus, as the owner reads it (``rpc.activity.get``): frozen
after the freeze setting, stopped after the stop setting of being frozen, one tier where the
provider cannot keep memory, frozen time metered apart, a wake starting over, a frozen agent
never asked and never named unhealthy, and host memory pressure stopping the longest-frozen
first. The stand-in provisioner freezes and stops as the real one does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from claudecloud_common.contracts.activity import ActivityView, HealthCondition
from claudecloud_common.contracts.instances import HostMemory, InstanceStatus, PauseReason
from claudecloud_common.contracts.providers import ProviderKind
from tests.activity.conftest import INTERVAL, Platform, PlatformFactory, Seen
from tests.activity.fakes import FakeAgents, Machine
from tests.support import eventually

S = InstanceStatus
MB = 1 << 20
FREEZE_STEPS = 2  # the default freeze setting (10 min), in polls
STOP_STEPS = 24  # the default stop setting (2 h), in polls


def commands(p: Platform, machine: Machine) -> list[tuple[PauseReason, bool]]:
    return [
        (c.reason, c.keep_memory)
        for c in p.provisioner.pauses
        if c.instance_id == machine.instance_id
    ]


async def shown(p: Platform, machine: Machine, status: InstanceStatus) -> ActivityView:
    async def reached() -> ActivityView | None:
        view = await p.view(machine.instance_id)
        return view if view is not None and view.status is status else None

    found: ActivityView = await eventually(reached, what=f"the instance shown {status.value}")
    return found


def decision(view: ActivityView, name: str) -> Any:
    return next(d for d in view.decisions if d.decision == name)


def frozen_seconds(seen: dict[str, Seen], machine: Machine) -> float:
    samples = {s["sample_id"]: s for s in seen["usage"].of(machine.instance_id)}
    return sum(float(s["seconds"]) for s in samples.values() if s["kind"] == "frozen")


async def test_idle_freezes_then_stops_saying_why_at_each_step(
    platform: PlatformFactory, seen: dict[str, Seen]
) -> None:
    async with platform() as p:
        machine, agent = await p.instance()
        agent.terminals = 1  # open, nobody types
        for _ in range(FREEZE_STEPS):
            await p.step()
        await eventually(lambda: commands(p, machine), what="a freeze")
        assert commands(p, machine) == [(PauseReason.IDLE, True)]
        view = await shown(p, machine, S.FROZEN)
        assert view.deadline_at is None
        assert view.frozen_at == p.clock.now()
        assert view.stops_at == p.clock.now() + timedelta(hours=2)
        freeze = decision(view, "freeze")
        assert freeze.detail.startswith("idle since ")
        assert "1 terminal(s) open without input" in freeze.detail
        assert "stops at " in freeze.detail
        assert "stops at " in decision(view, "frozen").detail

        polls = agent.polls
        for _ in range(STOP_STEPS - 1):
            await p.step()
        assert commands(p, machine) == [(PauseReason.IDLE, True)]  # not yet
        assert agent.polls == polls  # a frozen agent is never asked
        await p.step()
        await eventually(lambda: len(commands(p, machine)) == 2, what="a stop")
        assert commands(p, machine)[1] == (PauseReason.IDLE, False)
        view = await shown(p, machine, S.PAUSED)
        stop = decision(view, "stop")
        assert stop.reason == "idle"
        assert "frozen since " in stop.detail
        assert view.decisions[0].decision == "stopped"
        # every second frozen, metered as frozen time, once
        await eventually(
            lambda: frozen_seconds(seen, machine) == STOP_STEPS * INTERVAL,
            what="two hours of frozen time metered",
        )
        assert not seen["unhealthy"].of(machine.instance_id)


async def test_where_memory_cannot_be_kept_idle_stops_after_the_stop_setting(
    platform: PlatformFactory,
) -> None:
    async with platform() as p:
        p.provisioner.provider = ProviderKind.HETZNER  # pauses stop its servers: no frozen tier
        machine, _agent = await p.instance()
        for _ in range(FREEZE_STEPS + 1):
            await p.step()
        view = await p.view(machine.instance_id)
        assert view is not None
        assert view.status is S.RUNNING
        assert view.deadline_action == "stop"
        assert commands(p, machine) == []
        for _ in range(STOP_STEPS - FREEZE_STEPS - 1):
            await p.step()
        await eventually(lambda: commands(p, machine), what="a stop")
        assert commands(p, machine) == [(PauseReason.IDLE, False)]
        view = await shown(p, machine, S.PAUSED)
        assert "cannot keep memory" in decision(view, "stop").detail


async def test_a_wake_starts_the_cycle_over_and_ends_the_frozen_time(
    platform: PlatformFactory, seen: dict[str, Seen]
) -> None:
    async with platform() as p:
        machine, agent = await p.instance()
        agent.type()
        await p.step()  # typed: active
        for _ in range(FREEZE_STEPS):
            await p.step()
        frozen_at = (await shown(p, machine, S.FROZEN)).frozen_at
        assert frozen_at is not None
        for _ in range(3):
            await p.step()
        # Woken between two polls: the frozen time up to the wake is metered too.
        poller = p.replicas[0].parts.poller
        next_tick = poller.start_of(poller.interval_of(p.clock.now()) + 1)
        await p.clock.advance((next_tick - p.clock.now()).total_seconds() / 2)
        woken_at = p.clock.now()
        await p.provisioner.run(machine, woken=True)
        view = await shown(p, machine, S.RUNNING)
        assert view.decisions[0].reason == "woken"
        assert view.deadline_at == woken_at + timedelta(minutes=10)
        frozen_for = (woken_at - frozen_at).total_seconds()
        assert frozen_for > 3 * INTERVAL
        await eventually(
            lambda: frozen_seconds(seen, machine) == frozen_for,
            what="the frozen time up to the wake metered",
        )
        # Thawed, its agent is the same process: what it counted before the freeze (the typing)
        # is not new activity.
        await p.step()
        view = await shown(p, machine, S.RUNNING)
        assert view.last_activity_reason == "started"
        assert view.decisions[0].decision == "idle"
        for _ in range(FREEZE_STEPS):
            await p.step()
        await eventually(lambda: len(commands(p, machine)) == 2, what="a second freeze")
        assert commands(p, machine) == [(PauseReason.IDLE, True)] * 2
        assert len({c.id for c in p.provisioner.pauses}) == 2  # one freeze per run


async def test_a_frozen_instance_raises_no_condition_and_one_open_before_is_not_escalated(
    platform: PlatformFactory, seen: dict[str, Seen]
) -> None:
    own = FakeAgents()
    await own.start()
    try:
        async with platform(freeze_after_seconds=4 * INTERVAL) as p:
            machine, _agent = await p.instance(own)
            await p.step()
            await own.stop()  # its agent stops answering
            for _ in range(3):
                await p.step()  # the third failure names it, and the instance is idle: frozen
            view = await shown(p, machine, S.FROZEN)
            assert view.condition is HealthCondition.AGENT_UNREACHABLE
            assert view.failed_polls == 3
            await eventually(lambda: seen["unhealthy"].of(machine.instance_id), what="unhealthy")
            for _ in range(6):
                await p.step()
            view = await shown(p, machine, S.FROZEN)
            assert view.failed_polls == 3  # not one more failure while frozen
            assert [d.decision for d in view.decisions].count("unhealthy") == 1
            assert len(seen["unhealthy"].of(machine.instance_id)) == 1

            healthy, _ = await p.instance()  # frozen while well: stays well
            for _ in range(FREEZE_STEPS + 6):
                await p.step()
            view = await shown(p, healthy, S.FROZEN)
            assert view.condition is None
            assert view.failed_polls == 0
            assert not seen["unhealthy"].of(healthy.instance_id)
    finally:
        await own.stop()


async def test_host_memory_pressure_stops_the_longest_frozen_first(
    platform: PlatformFactory,
) -> None:
    async with platform(replicas=2, min_available_memory_mb=512) as p:
        first, _ = await p.instance()
        await p.step()
        second, _ = await p.instance()
        await p.step()
        third, _ = await p.instance()
        for machine, held in ((first, 300), (second, 200), (third, 400)):
            machine.memory_mb = held
        for _ in range(FREEZE_STEPS):
            await p.step()
        for machine in (first, second, third):
            await shown(p, machine, S.FROZEN)

        # 400 MB available, 112 MB short: the longest-frozen (300 MB) covers it.
        p.provisioner.host_memory = HostMemory(total_bytes=4096 * MB, available_bytes=400 * MB)
        await p.step()
        await eventually(lambda: commands(p, first), what="a stop")
        assert commands(p, first) == [(PauseReason.IDLE, True), (PauseReason.HOST_MEMORY, False)]
        view = await shown(p, first, S.PAUSED)
        stop = decision(view, "stop")
        assert stop.reason == "host_memory"
        assert "the host has 400 MB available, under the 512 MB minimum" in stop.detail
        assert "holding 300 MB" in stop.detail
        assert view.decisions[0].detail == "paused (host_memory)"
        assert len(commands(p, second)) == len(commands(p, third)) == 1

        # Still short at the next poll (two replicas ticking): the next-longest-frozen, once.
        await p.step()
        await eventually(lambda: len(commands(p, second)) == 2, what="the next stop")
        assert commands(p, second)[1] == (PauseReason.HOST_MEMORY, False)
        assert len(commands(p, third)) == 1
        assert len(commands(p, first)) == 2

        p.provisioner.host_memory = HostMemory(total_bytes=4096 * MB, available_bytes=900 * MB)
        await p.step()
        await shown(p, second, S.PAUSED)
        view = await shown(p, third, S.FROZEN)
        assert len(commands(p, third)) == 1
