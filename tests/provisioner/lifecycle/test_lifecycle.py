"""A user's instance through the gateway, on every provider that makes real machines: it is
usable when it says ``running``, keeps its data across pause, wake and destroy, and loses it
only when the user asks (``purge``); machines changed behind the platform's back while it was
down are found by their labels and reconciled when it starts."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx

from tests.support import eventually, stream_messages

from .conftest import Workstations


async def agent_answers(host: str, secret: str) -> bool:
    """Whether the agent at ``host`` answers ``/healthz`` with the instance's secret."""
    headers = {"Authorization": f"Bearer {secret}"}
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            return (await client.get(f"http://{host}/healthz", headers=headers)).status_code == 200
    except httpx.HTTPError:
        return False


async def read(workstations: Workstations, instance_id: str, path: str) -> str:
    """A file of the instance's ``/claude-data``, as its agent serves it to the gateway."""
    view = await workstations.platform.get(instance_id)
    secret = workstations.agent_secret(uuid.UUID(view["user_id"]))
    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(
            f"http://{view['host']}/files/read", params={"path": path}, headers=headers
        )
    assert response.status_code == 200, response.text
    content: str = response.json()["content"]
    return content


async def test_data_survives_pause_wake_destroy_and_create(workstations: Workstations) -> None:
    platform, user = workstations.platform, uuid.uuid4()
    first = await platform.create(user)
    view = await platform.wait_status(first["id"], "running")
    assert workstations.running(user)
    assert await agent_answers(view["host"], workstations.agent_secret(user))  # usable
    await eventually(lambda: workstations.healthy(user), timeout=30, what="its health check")
    await workstations.write(user, "notes.txt", "my work")

    await platform.act(first["id"], "pause")
    await platform.wait_status(first["id"], "paused")
    assert not workstations.running(user)

    await platform.act(first["id"], "wake")
    await platform.wait_status(first["id"], "running")
    assert await read(workstations, first["id"], "notes.txt") == "my work"

    await platform.act(first["id"], "destroy")
    await platform.wait_status(first["id"], "destroyed")
    assert not workstations.exists(user)
    assert workstations.volume_exists(user)

    second = await platform.create(user)
    assert second["id"] != first["id"]
    await platform.wait_status(second["id"], "running")
    assert await read(workstations, second["id"], "notes.txt") == "my work"

    await platform.act(second["id"], "destroy", purge=True)
    await platform.wait_status(second["id"], "destroyed")
    assert not workstations.exists(user)
    assert not workstations.volume_exists(user)


async def test_start_up_reconciles_machines_changed_behind_its_back(
    workstations: Workstations,
) -> None:
    platform = workstations.platform
    stopped_user, gone_user, orphan_user = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    stopped, gone = await platform.create(stopped_user), await platform.create(gone_user)
    for instance in (stopped, gone):
        await platform.wait_status(instance["id"], "running")

    await asyncio.to_thread(platform.stack.stop, "provisioner")
    workstations.stop_behind_back(stopped_user)
    workstations.remove_behind_back(gone_user)
    workstations.start_orphan(orphan_user)
    await asyncio.to_thread(platform.restart_provisioner)
    await eventually(lambda: not workstations.exists(orphan_user), what="the orphan removed")
    paused = await platform.wait_status(stopped["id"], "paused")
    assert "found stopped" in paused["reason"]
    assert workstations.volume_exists(stopped_user)

    async def announced() -> bool:
        # Read from the EVT stream itself: what was announced, however late one looks.
        url = platform.stack.config.resolved_nats_url
        events = [json.loads(m.data) for m in await stream_messages(url, "EVT", "evt.instance.>")]
        return _has(events, gone["id"], "instance.failed") and _has(
            events, stopped["id"], "instance.paused"
        )

    await eventually(announced, what="both corrections announced")
    failed = await platform.get(gone["id"])
    assert failed["status"] == "failed"
    assert "missing" in failed["reason"]
    for instance in (stopped, gone):
        await platform.act(instance["id"], "destroy", purge=True)
    for instance in (stopped, gone):
        await platform.wait_status(instance["id"], "destroyed")


def _has(events: list[dict[str, Any]], instance_id: str, kind: str) -> bool:
    return any(e["instance_id"] == instance_id and e["type"] == kind for e in events)
