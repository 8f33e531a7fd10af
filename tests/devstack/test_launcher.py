"""``make run`` as a supervisor: side by side with another, nothing left behind when it is killed,
a crashed service restarted, a service that cannot start named with its reason."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import httpx

from devstack import SERVICES, free_port
from tests.e2e.support import wait_for_status
from tests.launcher import Launch, Launcher
from tests.support import eventually


async def _create_running(launcher: Launcher, key: str) -> None:
    async with launcher.api(key) as api:
        created = await api.post("/instances", json={"user_id": str(uuid4())})
        assert created.status_code == 202, created.text
        await wait_for_status(api, created.json()["id"], "running")


async def test_two_launchers_run_side_by_side_and_a_killed_one_leaves_no_process(
    launch: Launch,
) -> None:
    first, second = launch("first"), launch("second")
    first_key, second_key = await asyncio.gather(first.banner(), second.banner())
    await asyncio.gather(_create_running(first, first_key), _create_running(second, second_key))
    left_behind = first.descendants()
    assert {p.cmdline()[-1] for p in left_behind} >= {s.module for s in SERVICES if s.runs({})}
    assert any("nats-server" in p.name() for p in left_behind)

    first.child.kill()  # SIGKILL: the launcher cannot clean up; the kernel must

    def all_gone() -> bool:
        return not [p for p in left_behind if p.is_running() and p.status() != "zombie"]

    await eventually(all_gone, timeout=15, what="every process of the killed launcher gone")
    await _create_running(second, second_key)  # the other platform never noticed


async def test_a_provisioner_killed_under_the_launcher_is_restarted_and_creates_complete(
    launch: Launch,
) -> None:
    launcher = launch(PROVISIONER_FAKE_LATENCY_SECONDS="2", PROVISIONER_BUS_ACK_WAIT_SECONDS="3")
    key = await launcher.banner()
    provisioner = launcher.service_process("provisioner")
    async with launcher.api(key) as api:
        ids = []
        for _ in range(3):
            created = await api.post("/instances", json={"user_id": str(uuid4())})
            assert created.status_code == 202, created.text
            ids.append(created.json()["id"])
        provisioner.kill()  # SIGKILL, while the provider calls are in flight
        await eventually(
            lambda: "provisioner was killed by SIGKILL; restarting" in launcher.output,
            what="the launcher logging the crash",
        )
        await eventually(
            lambda: "provisioner answers again" in launcher.output,
            timeout=60,
            what="the launcher logging the provisioner back",
        )
        for instance_id in ids:
            await wait_for_status(api, instance_id, "running", timeout=60)
        assert (await api.get("/healthz")).status_code == 200
    replacement = launcher.service_process("provisioner")
    assert replacement.pid != provisioner.pid
    assert "provisioner restarted" in launcher.output


async def test_a_service_that_cannot_start_is_named_with_its_reason_and_no_banner(
    launch: Launch,
) -> None:
    launcher = launch(GATEWAY_JWT_SECRET="too-short")
    child = launcher.child
    code = await eventually(lambda: child.returncode, timeout=90, what="the launcher exiting")
    assert code == 1
    assert "gateway exited with code 2" in launcher.output
    assert "JWT_SECRET must be at least 32 bytes" in launcher.output
    assert "ClaudeCloud is up" not in launcher.output


async def test_every_documented_setting_reaches_its_service(launch: Launch) -> None:
    """Each service's own prefixed settings arrive as the README documents them: its HTTP port
    (every registered service) and one setting per service whose effect a user sees."""
    ports = {service.port_variable: str(free_port()) for service in SERVICES}
    launcher = launch(
        **ports,
        PROVISIONER_FAKE_FAIL_OPERATIONS='["create"]',
        GATEWAY_MAX_BODY_BYTES="512",
    )
    key = await launcher.banner()
    async with httpx.AsyncClient(timeout=5) as client:
        for service in (s for s in SERVICES if s.runs({})):  # netbird only with hetzner
            url = f"http://127.0.0.1:{ports[service.port_variable]}{service.health_path}"
            assert (await client.get(url)).status_code == 200, service.name

    async with launcher.api(key) as api:
        too_big = await api.post("/instances", content=b"{" + b" " * 1024 + b"}")
        assert too_big.status_code == 413  # GATEWAY_MAX_BODY_BYTES reached the gateway
        created = await api.post("/instances", json={"user_id": str(uuid4())})
        assert created.status_code == 202, created.text
        # PROVISIONER_FAKE_FAIL_OPERATIONS reached the provisioner: its create fails.
        await wait_for_status(api, created.json()["id"], "failed")
