"""What ``claude-cloud status`` prints about an instance."""

from __future__ import annotations

from claudecloud_cli.main import describe

BASE = {"id": "i-1", "provider": "docker", "reason": None, "failure": None, "pause_reason": None}


def test_a_failed_instance_says_why_in_its_code_and_its_sentence() -> None:
    failed = {**BASE, "status": "failed", "failure": "agent_unreachable", "reason": "no answer"}

    lines = describe(failed)

    assert lines[0] == "Instance i-1: failed (docker)"
    assert lines[1] == "  failed (agent_unreachable): no answer"
    assert "claude-cloud create" in lines[2]


def test_a_paused_instance_says_who_paused_it_and_a_running_one_nothing_more() -> None:
    assert describe({**BASE, "status": "paused", "pause_reason": "idle"})[1].startswith(
        "  paused (idle)"
    )
    assert describe({**BASE, "status": "running"}) == ["Instance i-1: running (docker)"]
