"""The agent's secret replaced (a warm-pool machine given its owner's): the old one stops working
at once, the new one works, and it stays the secret after the agent starts again."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx

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
        kept = (tmp_path / "one" / "agent-secret").stat()
        assert kept.st_mode & 0o077 == 0  # only the agent's user may read it

    # The same machine's agent started again reads the file before the environment's secret.
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "agent-secret").write_text(new)
    with running_agent(tmp_path / "two", signed_in=False) as restarted:
        assert restarted.secret == new
        with restarted.client() as client:
            assert client.get("/healthz").status_code == 200
