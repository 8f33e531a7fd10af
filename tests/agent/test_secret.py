"""The agent's secret replaced (a warm-pool machine given its owner's): the old one stops working
at once, the new one works, and it stays the secret after the agent starts again. The machine
keeps a verifier of it and the agent's token to the gateway, never the secret itself."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx

from claudecloud_agentapi import AgentCredential

from .conftest import running_agent


def test_a_replaced_secret_is_the_only_one_accepted_and_outlives_a_restart(
    tmp_path: Path,
) -> None:
    new = secrets.token_urlsafe(32)
    (tmp_path / "one").mkdir()
    with running_agent(tmp_path / "one", signed_in=False) as agent, agent.client() as client:
        assert client.put("/secret", json={"secret": "short"}).status_code == 422
        assert client.put("/secret", json={"secret": new}).status_code == 204

        old = client.get("/healthz")
        now = httpx.get(f"{agent.url}/healthz", headers={"Authorization": f"Bearer {new}"})
        assert (old.status_code, now.status_code) == (401, 200)
        kept = tmp_path / "one" / "agent-secret"
        assert kept.stat().st_mode & 0o077 == 0  # only the agent's user may read it
        assert kept.read_text() == AgentCredential.of(new).dump()  # not the secret
        assert new not in kept.read_text()

    # Started again on what the machine keeps: the same secret works, the old does not
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "agent-secret").write_text(kept.read_text())
    with running_agent(tmp_path / "again", signed_in=False, secret=new) as again:
        with again.client() as client:
            assert client.get("/healthz").status_code == 200
        wrong = httpx.get(f"{again.url}/healthz", headers={"Authorization": "Bearer " + "x" * 43})
        assert wrong.status_code == 401

    # An older machine's file held the secret itself: read before the environment's, and
    # replaced by what the machine keeps now
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "agent-secret").write_text(new)
    with running_agent(tmp_path / "two", signed_in=False) as restarted:
        assert restarted.secret == new
        with restarted.client() as client:
            assert client.get("/healthz").status_code == 200
        assert (tmp_path / "two" / "agent-secret").read_text() == AgentCredential.of(new).dump()
