"""Crashes and outages with real processes: nothing accepted is lost, nothing happens twice."""

from __future__ import annotations

import json
import time
from typing import Any
from uuid import uuid4

import httpx
import pytest

from devstack import Stack
from provisioner.providers.fake import read_state
from tests.support import eventually, stream_messages

from .conftest import client_for
from .support import status, wait_for_status


@pytest.fixture(scope="module")
async def slow_stack(stack_factory: Any, pg_server_url: str) -> Stack:
    """A stack whose provider takes 3 s per call, so a crash can land in the middle of one."""
    stack: Stack = await stack_factory(pg_server_url, PROVISIONER_FAKE_LATENCY_SECONDS="3")
    return stack


async def test_a_provisioner_killed_mid_create_finishes_it_after_restart(
    slow_stack: Stack,
) -> None:
    user = str(uuid4())
    async with client_for(slow_stack) as api:
        created = await api.post("/instances", json={"user_id": user})
        assert created.status_code == 202
        instance_id = created.json()["id"]
        assert await status(api, instance_id) == "provisioning"  # taken, provider call running

        slow_stack.kill("provisioner")  # SIGKILL before the command was acknowledged
        slow_stack.start_service(slow_stack.spec("provisioner"))
        await wait_for_status(api, instance_id, "running", timeout=40)

    state = read_state(slow_stack.config.data_dir / "fake-provider.jsonl")
    assert list(state["machines"]) == [user]
    running = [
        m
        for m in await stream_messages(
            slow_stack.config.resolved_nats_url, "EVT", "evt.instance.running"
        )
        if json.loads(m.data)["instance_id"] == instance_id
    ]
    assert len(running) == 1


async def test_with_nats_down_the_gateway_answers_503_and_queued_work_completes_after(
    stack_factory: Any, pg_server_url: str
) -> None:
    stack: Stack = await stack_factory(
        pg_server_url, RPC_TIMEOUT_SECONDS="1.5", GATEWAY_ADMISSION_TIMEOUT_SECONDS="2"
    )
    async with client_for(stack) as api:
        stack.stop("provisioner")
        queued = await api.post("/instances", json={"user_id": str(uuid4())})
        assert queued.status_code == 202
        assert queued.json()["status"] == "queued"  # durable on the bus, nobody handling it yet
        instance_id = queued.json()["id"]

        stack.stop_nats()
        for method, path, body in [
            ("GET", f"/instances/{instance_id}", None),
            ("POST", "/instances", {"user_id": str(uuid4())}),
            ("GET", "/healthz", None),
        ]:
            started = time.monotonic()
            response = await api.request(method, path, json=body)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, (path, response.text)
            assert elapsed < 5, f"{path} took {elapsed:.1f}s with NATS down"
        assert (await api.get("/healthz")).json()["bus"] == "unreachable"

        stack.start_nats()
        stack.start_service(stack.spec("provisioner"))
        await wait_for_status(api, instance_id, "running", timeout=40)
        await _bus_back(api)


async def _bus_back(api: httpx.AsyncClient) -> None:
    async def healthy() -> bool:
        return (await api.get("/healthz")).status_code == 200

    await eventually(healthy, timeout=10, what="the gateway reporting the bus back")
