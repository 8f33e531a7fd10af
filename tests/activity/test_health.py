"""Health: an agent that stops answering is named after three failed polls and cleared when it
answers again; OOM kills and restarts the provider or the agent reports are named at once. (Idle
freezes an instance after an hour here, past what each test needs: a frozen one is not asked.)"""

from __future__ import annotations

from claudecloud_common.contracts.activity import HealthCondition
from tests.activity.conftest import PlatformFactory, Seen
from tests.activity.fakes import FakeAgents
from tests.support import eventually


async def test_an_unreachable_agent_is_named_after_three_polls_and_cleared_when_back(
    platform: PlatformFactory, seen: dict[str, Seen]
) -> None:
    own = FakeAgents()
    await own.start()
    try:
        async with platform(freeze_after_seconds=3600) as p:
            machine, _agent = await p.instance(own)
            await p.step()
            await own.stop()  # the agent is gone: nothing answers on its port
            for _ in range(2):
                await p.step()
            view = await p.view(machine.instance_id)
            assert view is not None
            assert view.condition is None  # two failures are not yet a condition
            assert view.failed_polls == 2
            await p.step()
            view = await p.view(machine.instance_id)
            assert view is not None
            assert view.condition is HealthCondition.AGENT_UNREACHABLE
            assert "3 polls in a row failed" in (view.condition_detail or "")
            events = await eventually(
                lambda: seen["unhealthy"].of(machine.instance_id), what="unhealthy"
            )
            assert [e["condition"] for e in events] == ["agent_unreachable"]

            await own.start()  # back on the same address
            await p.step()
            view = await p.view(machine.instance_id)
            assert view is not None
            assert view.condition is None
            assert view.failed_polls == 0
            assert view.decisions[0].decision == "recovered"
            back = await eventually(
                lambda: seen["recovered"].of(machine.instance_id), what="recovered"
            )
            assert [e["condition"] for e in back] == ["agent_unreachable"]
    finally:
        await own.stop()


async def test_oom_kills_and_restarts_are_named(platform: PlatformFactory) -> None:
    async with platform(freeze_after_seconds=3600) as p:
        machine, agent = await p.instance()
        await p.step()
        agent.oom_kills = 2  # the kernel killed processes inside the instance
        await p.step()
        view = await p.view(machine.instance_id)
        assert view is not None
        assert view.condition is HealthCondition.OOM_KILLED
        assert "2 process(es) killed" in (view.condition_detail or "")
        await p.step()  # nothing new: cleared
        view = await p.view(machine.instance_id)
        assert view is not None
        assert view.condition is None

        machine.restarts += 1  # the provider restarted the machine
        await p.step()
        view = await p.view(machine.instance_id)
        assert view is not None
        assert view.condition is HealthCondition.RESTARTING


async def test_no_pause_and_no_condition_while_the_provisioner_does_not_answer(
    platform: PlatformFactory,
) -> None:
    async with platform(provider_timeout_seconds=0.5) as p:
        machine, _agent = await p.instance()
        await p.provisioner.stop()  # nobody answers rpc.instance.activity
        for _ in range(30):  # far past the idle threshold
            await p.step()
        view = await p.view(machine.instance_id)
        assert view is not None
        assert view.condition is None
        assert view.failed_polls == 0
        assert p.provisioner.pauses == []
