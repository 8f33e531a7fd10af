"""Every worker app serves the same endpoints, and a service can mount its own beside them."""

from __future__ import annotations

from pathlib import Path

import httpx
from faststream.asgi import AsgiFastStream, AsgiResponse, get

from claudecloud_common.bus import make_broker
from claudecloud_common.db import Database
from claudecloud_common.settings import ServiceSettings
from claudecloud_common.worker import PublicListener, WorkerParts, make_worker_app


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


def _worker(tmp_path: Path, public: PublicListener | None = None) -> AsgiFastStream:
    settings = ServiceSettings(data_dir=tmp_path)
    return make_worker_app(
        WorkerParts(
            settings=settings,
            broker=make_broker(settings),
            db=Database(settings.resolved_database_url),
            migrations=tmp_path,
            public=public,
        )
    )


async def test_a_workers_docs_load_nothing_from_elsewhere_and_publish_nothing(
    tmp_path: Path,
) -> None:
    transport = httpx.ASGITransport(app=_worker(tmp_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://worker") as client:
        page = await client.get("/asyncapi")
        document = await client.get("/asyncapi.json")
        # FastStream's "try it out" publishes any body to any subject on the real bus.
        tried = await client.post(
            "/asyncapi/try",
            json={
                "channelName": "cmd.instance.create",
                "message": {"message": {"user_id": "anyone"}},
                "options": {"sendToRealBroker": True},
            },
        )

    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "<script" not in page.text
    assert "https://" not in page.text  # no CDN, no icon from elsewhere
    assert "/asyncapi.json" in page.text
    assert document.json()["asyncapi"].startswith("3.")
    assert tried.status_code == 404


async def test_a_public_listener_serves_its_routes_and_health_alone(tmp_path: Path) -> None:
    app = _worker(tmp_path, PublicListener(port=8999, routes=[("/stripe/webhook", webhook)]))
    transport = httpx.ASGITransport(app=app)
    # The port a request came in on is the listener's: what Stripe reaches, or the worker's own.
    outside = httpx.AsyncClient(transport=transport, base_url="http://billing.example:8999")
    inside = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8102")
    async with outside, inside:
        public = {path: await outside.get(path) for path in _PATHS}
        internal = {path: await inside.get(path) for path in _PATHS}

    assert public["/stripe/webhook"].status_code == 200
    assert public["/healthz"].status_code != 404  # degraded here (no bus), but answered
    for path in ("/metrics", "/asyncapi", "/asyncapi.json"):
        assert public[path].status_code == 404, path
        assert internal[path].status_code == 200, path
    assert internal["/stripe/webhook"].status_code == 404


_PATHS = ("/stripe/webhook", "/healthz", "/metrics", "/asyncapi", "/asyncapi.json")
