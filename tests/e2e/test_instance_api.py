"""The instance API through the real gateway, bus and provisioner."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

import httpx

from devstack import Stack
from provisioner.providers.fake import read_state

from .support import sse, wait_for_status

STOP = {"keep_memory": False}
"""A pause that stops the machine (the default freezes it)."""


async def create(api: httpx.AsyncClient, user: str, **headers: str) -> httpx.Response:
    return await api.post("/instances", json={"user_id": user}, headers=headers)


async def test_lifecycle_through_the_api_and_the_event_stream(api: httpx.AsyncClient) -> None:
    user = str(uuid4())
    created = await create(api, user)
    assert created.status_code == 202, created.text
    instance_id = created.json()["id"]
    assert created.headers["Location"] == f"/instances/{instance_id}"

    seen: list[tuple[str, dict[str, Any]]] = []

    async def follow() -> None:
        async for event, data in sse(api, f"/instances/{instance_id}/events"):
            seen.append((event, data))
            if event == "instance.destroyed":
                return

    follower = asyncio.create_task(follow())
    await wait_for_status(api, instance_id, "running")

    assert (await api.post(f"/instances/{instance_id}/pause")).status_code == 202  # freezes
    await wait_for_status(api, instance_id, "frozen")
    assert (await api.post(f"/instances/{instance_id}/pause", json=STOP)).status_code == 202
    await wait_for_status(api, instance_id, "paused")
    assert (await api.post(f"/instances/{instance_id}/wake")).status_code == 202
    await wait_for_status(api, instance_id, "running")
    assert (await api.delete(f"/instances/{instance_id}")).status_code == 202
    await wait_for_status(api, instance_id, "destroyed")
    await asyncio.wait_for(follower, timeout=10)

    kinds = [event for event, _ in seen]
    assert kinds[0] == "snapshot"
    lifecycle = [e for e in kinds[1:] if e != "instance.accepted"]
    assert lifecycle[-4:] == [
        "instance.frozen",
        "instance.paused",
        "instance.woken",
        "instance.destroyed",
    ]
    statuses = [data["status"] for _, data in seen]
    assert statuses[-1] == "destroyed"


async def test_illegal_transitions_are_409_with_the_reason(api: httpx.AsyncClient) -> None:
    instance_id = (await create(api, str(uuid4()))).json()["id"]
    await wait_for_status(api, instance_id, "running")

    wake = await api.post(f"/instances/{instance_id}/wake")
    assert wake.status_code == 409
    assert wake.json() == {
        "error": "IllegalTransition",
        "detail": f"cannot wake instance {instance_id}: it is already running",
    }
    await api.post(f"/instances/{instance_id}/pause")
    await wait_for_status(api, instance_id, "frozen")
    freeze = await api.post(f"/instances/{instance_id}/pause", json={"keep_memory": True})
    assert freeze.status_code == 409
    assert "it is already frozen" in freeze.json()["detail"]
    await api.post(f"/instances/{instance_id}/pause", json=STOP)
    await wait_for_status(api, instance_id, "paused")
    pause = await api.post(f"/instances/{instance_id}/pause")
    assert pause.status_code == 409
    assert "it is paused; wake it first" in pause.json()["detail"]

    await api.delete(f"/instances/{instance_id}")
    await wait_for_status(api, instance_id, "destroyed")
    for action in ("pause", "wake"):
        refused = await api.post(f"/instances/{instance_id}/{action}")
        assert refused.status_code == 409
        assert "it has been destroyed" in refused.json()["detail"]
    again = await api.delete(f"/instances/{instance_id}")
    assert again.status_code == 409


async def test_twenty_concurrent_creates_make_one_instance(api: httpx.AsyncClient) -> None:
    user = str(uuid4())
    responses = await asyncio.gather(*(create(api, user) for _ in range(20)))

    codes = sorted(r.status_code for r in responses)
    assert codes == [202] + [409] * 19, [r.text for r in responses if r.status_code != 409]
    winner = next(r for r in responses if r.status_code == 202).json()["id"]
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.json()["error"] == "InstanceAlreadyExists"
        assert refused.json()["existing_instance_id"] == winner
    listed = (await api.get("/instances", params={"user_id": user})).json()
    assert [i["id"] for i in listed] == [winner]


async def test_the_same_idempotency_key_gives_the_same_instance_once(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    user = str(uuid4())
    first = await create(api, user, **{"Idempotency-Key": "create-1"})
    await wait_for_status(api, first.json()["id"], "running")
    second = await create(api, user, **{"Idempotency-Key": "create-1"})

    assert first.status_code == second.status_code == 202
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    state = read_state(stack.config.data_dir / "fake-provider.jsonl")
    assert state["machines"][user]["instance_id"] == first.json()["id"]
    assert state["calls_by_user"][user] == {"create": 1}
    listed = (await api.get("/instances", params={"user_id": user})).json()
    assert len(listed) == 1


async def test_unknown_instances_are_404(api: httpx.AsyncClient) -> None:
    missing = uuid4()
    for method, path in [
        ("GET", f"/instances/{missing}"),
        ("POST", f"/instances/{missing}/pause"),
        ("POST", f"/instances/{missing}/wake"),
        ("DELETE", f"/instances/{missing}"),
        ("GET", f"/instances/{missing}/events"),
    ]:
        response = await api.request(method, path)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"] == "InstanceNotFound"


async def test_the_admin_key_is_required(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.config.port}") as anonymous:
        missing = await anonymous.get("/instances")
        wrong = await anonymous.get("/instances", headers={"X-API-Key": "nope"})
        health = await anonymous.get("/healthz")
    assert missing.status_code == 401
    assert missing.json()["detail"] == "missing API key"
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "invalid API key"
    assert health.json() == {"status": "ok", "bus": "ok", "database": "ok"}


async def test_the_provisioner_reports_its_health_and_its_contracts(stack: Stack) -> None:
    port = stack.spec("provisioner").http_port
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as worker:
        health = await worker.get("/healthz")
        spec = await worker.get("/asyncapi.json")
        metrics = await worker.get("/metrics")
    assert health.json() == {"status": "ok", "bus": "ok", "database": "ok"}
    channels = spec.json()["channels"]
    assert any(name.startswith("cmd.instance.create") for name in channels)
    assert "claudecloud_bus_messages_total" in metrics.text


async def test_a_read_right_after_a_command_shows_its_effect(api: httpx.AsyncClient) -> None:
    instance_id = (await create(api, str(uuid4()))).json()["id"]
    await wait_for_status(api, instance_id, "running")
    for _ in range(3):
        assert (await api.get(f"/instances/{instance_id}")).json()["status"] == "running"
        paused = await api.post(f"/instances/{instance_id}/pause", json=STOP)
        assert paused.status_code == 202
        assert (await api.get(f"/instances/{instance_id}")).json()["status"] in (
            "pausing",
            "paused",
        )
        await wait_for_status(api, instance_id, "paused")
        assert (await api.post(f"/instances/{instance_id}/wake")).status_code == 202
        assert (await api.get(f"/instances/{instance_id}")).json()["status"] in (
            "waking",
            "running",
        )
        await wait_for_status(api, instance_id, "running")
