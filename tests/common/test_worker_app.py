"""Every worker app serves the same endpoints, and a service can mount its own beside them."""

from __future__ import annotations

from pathlib import Path

import httpx
from faststream.asgi import AsgiResponse, get

from claudecloud_common.bus import make_broker
from claudecloud_common.db import Database
from claudecloud_common.settings import ServiceSettings
from claudecloud_common.worker import WorkerParts, make_worker_app


@get
async def webhook(scope: object) -> AsgiResponse:
    return AsgiResponse(b"received", 200, {"content-type": "text/plain"})


async def test_a_worker_mounts_extra_http_routes_beside_its_own(tmp_path: Path) -> None:
    settings = ServiceSettings(data_dir=tmp_path)
    app = make_worker_app(
        WorkerParts(
            settings=settings,
            broker=make_broker(settings),
            db=Database(settings.resolved_database_url),
            migrations=tmp_path,
            http_routes=[("/stripe/webhook", webhook)],
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://worker") as client:
        mounted = await client.get("/stripe/webhook")
        metrics = await client.get("/metrics")
        missing = await client.get("/stripe/other")
    assert (mounted.status_code, mounted.text) == (200, "received")
    assert metrics.status_code == 200
    assert missing.status_code == 404
