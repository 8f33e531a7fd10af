"""What ``/metrics`` shows about activity: instances by status and condition, active ones, poll
durations, decisions by reason and failed polls; never a user's or an instance's id."""

from __future__ import annotations

from prometheus_client import REGISTRY, generate_latest

from tests.activity.conftest import PlatformFactory


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_count_what_the_polls_saw_without_ids(platform: PlatformFactory) -> None:
    async with platform(freeze_after_seconds=3600) as p:  # none frozen before its third poll
        failed_before = sample("claudecloud_activity_polls_failed_total", target="agent")
        named_before = sample(
            "claudecloud_activity_decisions_total", decision="unhealthy", reason="agent_unreachable"
        )
        busy, busy_agent = await p.instance()
        quiet, _ = await p.instance()
        gone, _ = await p.instance()
        gone.secret = "not-the-agents-secret"  # its agent refuses every poll (401)
        busy_agent.type()
        await p.step()
        assert sample("claudecloud_activity_active_instances") >= 1
        assert sample("claudecloud_activity_poll_seconds_count") >= 1
        assert sample("claudecloud_activity_polls_failed_total", target="agent") > failed_before
        for _ in range(2):
            busy_agent.type()
            await p.step()
        assert sample("claudecloud_activity_instances", status="running", condition="none") >= 1
        assert (
            sample(
                "claudecloud_activity_instances", status="running", condition="agent_unreachable"
            )
            >= 1
        )
        assert (
            sample(
                "claudecloud_activity_decisions_total",
                decision="unhealthy",
                reason="agent_unreachable",
            )
            > named_before
        )
        assert (
            sample(
                "claudecloud_activity_decisions_total", decision="active", reason="terminal_input"
            )
            >= 3
        )
        text = generate_latest(REGISTRY).decode()
        for machine in (busy, quiet, gone):
            assert str(machine.instance_id) not in text
            assert str(machine.user_id) not in text
