"""The gateway's audit events while the bus does not answer: the requests they record answer as
fast as ever (publishing is after the fact, off their path), the events wait in the gateway, and
reach the bus, once each, when it answers again."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client import REGISTRY

from devstack.faults import FaultProxy
from gateway.app import create_app
from tests.support import eventually, stream_messages

from .conftest import BASE_URL, session_for, settings_for

pytestmark = pytest.mark.integration


async def test_a_bus_outage_neither_slows_nor_loses_what_the_gateway_records(
    nats_url: str, tmp_path: Path
) -> None:
    server = urlsplit(nats_url)
    assert server.hostname is not None
    assert server.port is not None
    with FaultProxy(server.hostname, server.port) as proxy:
        app = create_app(settings_for(tmp_path, nats_url=f"nats://{proxy.address}"))
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client,
        ):
            token = await session_for(app, client, "outage@example.com")
            me = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
            user_id = me.json()["user_id"]
            proxy.partition()
            started = time.monotonic()
            out = await client.post("/auth/logout", headers={"Authorization": f"Bearer {token}"})
            took = time.monotonic() - started
            await eventually(lambda: _queued() >= 1, what="the sign-out waiting in the gateway")
            proxy.heal()

            async def published() -> list[str] | None:
                found = await stream_messages(nats_url, "EVT", "evt.audit.recorded")
                mine = [json.loads(m.data) for m in found]
                kinds = [e["kind"] for e in mine if e["user_id"] == user_id]
                return kinds if "auth.sign_out" in kinds else None

            kinds = await eventually(published, timeout=60, what="the events on the bus")
    assert out.status_code == 204
    assert took < 1.0  # the sign-out did not wait for the bus
    assert sorted(kinds) == ["auth.sign_in", "auth.sign_out"]  # each once


def _queued() -> float:
    return REGISTRY.get_sample_value("claudecloud_gateway_audit_queued_events") or 0.0
