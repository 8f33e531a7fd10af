"""Usage samples and replicas: an active interval is one sample, an idle one none; two activity
services share the polls and never pause twice or send a sample twice."""

from __future__ import annotations

from claudecloud_common.contracts.instances import PauseReason
from tests.activity.conftest import INTERVAL, PlatformFactory, Seen
from tests.support import eventually


async def test_each_active_interval_is_one_usage_sample(
    platform: PlatformFactory, seen: dict[str, Seen]
) -> None:
    async with platform(freeze_after_seconds=3600) as p:
        machine, agent = await p.instance()
        for _ in range(3):
            agent.type()
            await p.step()
        for _ in range(2):  # quiet: no samples
            await p.step()
        agent.start_turn()
        await p.step()
        samples = await eventually(
            lambda: (
                len(seen["usage"].of(machine.instance_id)) >= 4
                and seen["usage"].of(machine.instance_id)
            ),
            what="four usage samples",
        )
        assert len(samples) == 4
        assert len({s["sample_id"] for s in samples}) == 4
        assert all(s["user_id"] == str(machine.user_id) for s in samples)
        # every poll after the first covers a whole interval
        assert [s["seconds"] for s in samples[1:]] == [INTERVAL] * 3
        assert 0 < samples[0]["seconds"] <= INTERVAL


async def test_two_replicas_poll_each_instance_once_and_freeze_it_once(
    platform: PlatformFactory, seen: dict[str, Seen]
) -> None:
    async with platform(replicas=2, freeze_after_seconds=4 * INTERVAL, grace_seconds=0) as p:
        machines = [await p.instance() for _ in range(6)]
        steps = 0
        for _ in range(2):
            for _machine, agent in machines:
                agent.type()
            await p.step()
            steps += 1
        for _ in range(6):  # quiet until every one is frozen
            await p.step()
            steps += 1
        await eventually(lambda: len(p.provisioner.pauses) >= 6, what="six freezes")
        for machine, agent in machines:
            # one poll per interval while it ran, whichever replica made it
            assert agent.polls <= steps
            pauses = [c for c in p.provisioner.pauses if c.instance_id == machine.instance_id]
            assert len(pauses) == 1, pauses
            assert (pauses[0].reason, pauses[0].keep_memory) == (PauseReason.IDLE, True)
            samples = [s for s in seen["usage"].of(machine.instance_id) if s["kind"] == "running"]
            assert len(samples) == 2, samples
            assert len({s["sample_id"] for s in samples}) == 2
        # both replicas did some of the work
        polled = [sum(t.polled for t in r.parts.poller.ticks) for r in p.replicas]
        assert all(n > 0 for n in polled), polled
