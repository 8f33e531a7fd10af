"""The netbird service's ``/metrics``, scraped from its own process after it set up a mesh: its
saga's messages counted by subject, its outbox's backlog, exactly what ``docs/metrics.md`` lists
for it, named by the rules (the platform test in tests/e2e runs without netbird)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.common.metrics_rules import documented, exposed, problems
from tests.netbird.conftest import NetbirdProcess, PlatformFactory, netbird_env


async def test_netbird_exposes_what_the_table_lists_for_it(
    platform: PlatformFactory, netbird_db: str, nats_url: str, tmp_path: Path
) -> None:
    async with platform(netbird=False) as p:
        service = NetbirdProcess(netbird_env(netbird_db, nats_url, p.netbird_url, tmp_path))
        await service.start()
        try:
            instance_id, _ = await p.create()
            await p.until_status(instance_id, "running", timeout=60)
            async with httpx.AsyncClient(timeout=10) as http:
                answer = await http.get(f"http://127.0.0.1:{service.port}/metrics")
        finally:
            service.stop()
    assert answer.status_code == 200
    families = exposed(answer.text)
    handled = families["claudecloud_bus_messages_total"].samples
    assert any(
        labels["outcome"] == "ok" and labels["subject"] != "other" and n >= 1
        for _, labels, n in handled
    ), handled
    assert "claudecloud_outbox_pending_messages" in families
    assert str(instance_id) not in answer.text
    ours = {name for name in families if name.startswith("claudecloud_")}
    listed = {name for name, row in documented().items() if "netbird" in row.services}
    assert ours == listed
    assert problems(families) == []
