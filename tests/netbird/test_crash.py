"""The netbird service SIGKILLed in the middle of a Netbird call resumes the saga when it starts
again, and nothing is made twice."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.netbird.conftest import NetbirdProcess, PlatformFactory, netbird_env
from tests.support import stream_messages


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(("POST", "/api/groups"), id="while-making-the-group"),
        pytest.param(("POST", "/api/setup-keys"), id="while-making-the-setup-key"),
        pytest.param(("POST", "/api/routes"), id="while-making-the-route"),
        pytest.param(("POST", "/api/policies"), id="while-making-the-policy"),
    ],
)
async def test_killed_mid_call_resumes_without_duplicates(
    platform: PlatformFactory,
    netbird_db: str,
    nats_url: str,
    tmp_path: Path,
    call: tuple[str, str],
) -> None:
    async with platform(netbird=False) as p:
        service = NetbirdProcess(netbird_env(netbird_db, nats_url, p.netbird_url, tmp_path))
        await service.start()
        try:
            held = p.netbird.hold(*call)
            instance_id, _ = await p.create()
            try:
                async with asyncio.timeout(30):
                    await held.arrived.wait()
            except TimeoutError:
                pytest.fail(
                    f"{' '.join(call)} never reached Netbird; events seen: "
                    f"{p.seen.types(instance_id)}; calls: {[c.template for c in p.netbird.calls]}; "
                    f"the service {'runs' if service.child.running() else 'exited'}"
                )
            service.kill()  # Netbird is making the resource; its answer will reach nobody
            held.released.set()

            await service.start()
            view = await p.until_status(instance_id, "running", timeout=30)
        finally:
            service.stop()

        assert view.status.value == "running"
        found = p.netbird.resources()
        assert {k: found[k] for k in ("groups", "setup_keys", "routes", "policies")} == {
            "groups": 1,
            "setup_keys": 1,
            "routes": 1,
            "policies": 1,
        }, "a resource was made twice (or lost)"
        # Each step announced once: a relay publishing a row again after the crash reuses its
        # message id, which JetStream (and every consumer's inbox) drops.
        for subject in ("evt.netbird.prepared", "evt.netbird.finalized"):
            kept = await stream_messages(nats_url, "EVT", subject)
            mine = [m for m in kept if json.loads(m.data)["instance_id"] == str(instance_id)]
            assert len(mine) == 1, subject
        assert p.netbird.refused == []
        assert p.netbird.violations == []
