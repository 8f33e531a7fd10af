"""The deadline rules as a user notices them: what keeps an instance awake, what does not, and
why it was frozen (read back as the owner would, through ``rpc.activity.get``). The stand-in
provisioner's provider is docker's: a pause can keep memory, so idle freezes first."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from claudecloud_common.contracts.activity import ActivitySubject
from claudecloud_common.contracts.audit import AuditSubject
from claudecloud_common.contracts.instances import InstanceStatus, PauseReason
from tests.activity.conftest import INTERVAL, Platform, PlatformFactory
from tests.support import eventually

IDLE_STEPS = int(600 / INTERVAL)  # the default freeze setting, in polls
LONG = int(7200 / INTERVAL)  # two hours, in polls
FREEZE = (PauseReason.IDLE, True)


def pauses(p: Platform) -> list[tuple[PauseReason, bool]]:
    return [(c.reason, c.keep_memory) for c in p.provisioner.pauses]


async def test_a_running_chat_turn_keeps_it_awake_past_the_idle_threshold(
    platform: PlatformFactory,
) -> None:
    async with platform() as p:
        machine, agent = await p.instance()
        agent.start_turn()
        for _ in range(LONG + 4):
            await p.step()
        view = await p.view(machine.instance_id)
        assert view is not None
        assert view.status is InstanceStatus.RUNNING
        assert view.last_activity_reason == "chat_turn_running"
        assert view.deadline_at is not None
        assert view.deadline_at > p.clock.now()
        assert p.provisioner.pauses == []

        # The turn ends: the grace period, then the freeze setting, and it is frozen.
        agent.end_turn()
        for _ in range(IDLE_STEPS + 4):
            await p.step()
        await eventually(lambda: p.provisioner.pauses, what="a freeze")
        assert pauses(p) == [FREEZE]


async def test_an_attached_silent_terminal_does_not_keep_it_awake(
    platform: PlatformFactory,
) -> None:
    async with platform() as p:
        machine, agent = await p.instance()
        agent.terminals = agent.tmux_clients = 1  # open, but nobody types
        for _ in range(IDLE_STEPS):
            await p.step()
        await eventually(lambda: p.provisioner.pauses, what="a freeze")
        assert pauses(p) == [FREEZE]

        async def frozen() -> bool:
            view = await p.view(machine.instance_id)
            return view is not None and view.status is InstanceStatus.FROZEN

        await eventually(frozen, what="the instance shown frozen")
        view = await p.view(machine.instance_id)
        assert view is not None
        freeze = next(d for d in view.decisions if d.decision == "freeze")
        assert freeze.reason == "idle"
        assert "terminal(s) open without input" in freeze.detail


async def test_typing_keeps_it_awake(platform: PlatformFactory) -> None:
    async with platform() as p:
        machine, agent = await p.instance()
        agent.terminals = 1
        for _ in range(LONG + 4):
            agent.type()
            await p.step()
        view = await p.view(machine.instance_id)
        assert view is not None
        assert view.status is InstanceStatus.RUNNING
        assert view.last_activity_reason == "terminal_input"
        assert view.processes == 3  # what the provider saw, shown, never counted as activity
        assert p.provisioner.pauses == []


async def test_typing_in_a_terminal_attached_to_tmux_directly_keeps_it_awake(
    platform: PlatformFactory,
) -> None:
    """``connect.sh`` attaches with ``docker exec ... tmux attach``: the agent sees no keys, tmux
    does (the agent reports when an attached client last typed)."""
    async with platform() as p:
        machine, agent = await p.instance()
        agent.tmux_clients = 1
        agent.tmux_input_at = 1_000_000.0  # typed once, before the first poll
        for step in range(LONG + 4):
            agent.tmux_input_at += 60 * (step + 1)
            await p.step()
        view = await p.view(machine.instance_id)
        assert view is not None
        assert view.status is InstanceStatus.RUNNING
        assert view.last_activity_reason == "terminal_input"
        # attached, typing no more: it is frozen
        for _ in range(IDLE_STEPS + 1):
            await p.step()
        await eventually(lambda: p.provisioner.pauses, what="a freeze")
        assert pauses(p) == [FREEZE]


async def test_the_max_lifetime_stops_a_long_agent_run_with_the_reason_readable(
    platform: PlatformFactory,
) -> None:
    async with platform(max_lifetime_seconds=4 * 3600) as p:
        machine, agent = await p.instance()
        agent.start_turn()  # one prompt, then Claude works on and on
        for _ in range(int(4 * 3600 / INTERVAL) + 2):  # the prompt is seen at the first poll
            await p.step()
        await eventually(lambda: p.provisioner.pauses, what="a freeze")
        assert pauses(p) == [(PauseReason.MAX_LIFETIME, True)]

        async def frozen() -> bool:
            view = await p.view(machine.instance_id)
            return view is not None and view.status is InstanceStatus.FROZEN

        await eventually(frozen, what="the instance shown frozen")
        view = await p.view(machine.instance_id)
        assert view is not None
        assert view.decisions[0].decision == "frozen"
        assert view.decisions[0].reason == "max_lifetime"
        freeze = next(d for d in view.decisions if d.decision == "freeze")
        assert freeze.reason == "max_lifetime"
        assert "no human input for 4 h" in freeze.detail


async def test_a_new_prompt_restarts_the_max_lifetime(platform: PlatformFactory) -> None:
    async with platform(max_lifetime_seconds=2 * 3600, freeze_after_seconds=3600) as p:
        machine, agent = await p.instance()
        agent.start_turn()
        for step in range(int(3 * 3600 / INTERVAL)):
            if step % 12 == 11:  # every hour the person prompts again
                agent.end_turn()
                agent.start_turn()
            await p.step()
        assert p.provisioner.pauses == []
        view = await p.view(machine.instance_id)
        assert view is not None
        assert view.status is InstanceStatus.RUNNING


async def test_an_instance_running_before_activity_started_is_followed(
    platform: PlatformFactory,
) -> None:
    from tests.activity.fakes import Machine

    async with platform() as p:
        secret, _agent = p.agents.add()
        import uuid

        machine = Machine(uuid.uuid4(), uuid.uuid4(), p.agents.host, secret)
        p.provisioner.machines[machine.instance_id] = machine  # no event: it ran before
        await p.replicas[0].parts.poller.resync(p.clock.now())
        view = await p.view(machine.instance_id)
        assert view is not None
        assert view.status is InstanceStatus.RUNNING
        assert view.decisions[0].reason == "found"


async def test_the_owner_is_warned_before_an_idle_freeze_and_the_freeze_is_audited(
    platform: PlatformFactory, bus: NatsClient
) -> None:
    warnings: list[dict[str, Any]] = []
    audited: list[dict[str, Any]] = []

    async def keep(into: list[dict[str, Any]], msg: Msg) -> None:
        into.append(json.loads(msg.data))

    subs = [
        await bus.subscribe(str(ActivitySubject.IDLE_WARNING), cb=partial(keep, warnings)),
        await bus.subscribe(str(AuditSubject.RECORDED), cb=partial(keep, audited)),
    ]
    try:
        async with platform() as p:
            machine, _agent = await p.instance()
            for _ in range(IDLE_STEPS):
                await p.step()
            await eventually(lambda: p.provisioner.pauses, what="a freeze")

            def about(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
                return [m for m in found if m.get("instance_id") == str(machine.instance_id)]

            [warned] = await eventually(lambda: about(warnings), what="the idle warning")
            [record] = await eventually(lambda: about(audited), what="the freeze's audit record")
    finally:
        for sub in subs:
            await sub.unsubscribe()
    assert warned["user_id"] == str(machine.user_id)
    assert warned["action"] == "freeze"
    assert record["kind"] == "instance.command"
    assert record["actor"] == {"kind": "activity", "id": "activity"}
    assert record["user_id"] == str(machine.user_id)
    assert record["detail"]["reason"] == "idle"
    assert record["detail"]["keep_memory"] is True
