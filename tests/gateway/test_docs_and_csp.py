"""The API docs load no third-party script (their viewers are served from here, so they work on a
machine without internet too), none at all in production, and every HTML answer says what it may
load (a Content-Security-Policy): issue 14, finding 4; issue 21."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from claudecloud_common.migrations import upgrade_to_head
from gateway.app import MIGRATIONS, create_app
from gateway.settings import GatewaySettings

_SCRIPT = re.compile(r"<script([^>]*)>(.*?)</script>", re.S)
_STYLESHEET = re.compile(r"<link[^>]*rel=\"stylesheet\"[^>]*>")


def _settings(tmp_path: Path, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
        "jwt_secret": secrets.token_urlsafe(48),
        "admin_api_key": secrets.token_urlsafe(48),
        "smtp_host": "smtp.example",
        "credentials_key": secrets.token_urlsafe(48),
        **overrides,
    }
    return GatewaySettings(**values)


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def _policy(response: httpx.Response) -> dict[str, list[str]]:
    header = response.headers.get("content-security-policy")
    assert header, (response.request.url, response.headers)
    directives = (d.strip().split() for d in header.split(";") if d.strip())
    return {d[0]: d[1:] for d in directives}


async def test_production_serves_no_docs_page(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path, environment="production"))
    async with _client(app) as client:
        for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            assert (await client.get(path)).status_code == 404, path
        assert (await client.get("/openapi.json")).status_code == 200


def _loaded(page: str) -> list[str]:
    """What a page loads: its scripts' and stylesheets' addresses."""
    scripts = [re.search(r'src="([^"]+)"', a) for a, _ in _SCRIPT.findall(page)]
    sheets = [re.search(r'href="([^"]+)"', link) for link in _STYLESHEET.findall(page)]
    return [found.group(1) for found in (*scripts, *sheets) if found]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_development_docs_load_only_their_own_assets_served_here(
    tmp_path: Path, path: str
) -> None:
    app = create_app(_settings(tmp_path))
    async with _client(app) as client:
        page = await client.get(path)
        sources = _loaded(page.text)
        assets = {source: await client.get(source) for source in sources}
    assert page.status_code == 200
    policy = _policy(page)
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    allowed_scripts = policy["script-src"]
    assert "'unsafe-inline'" not in allowed_scripts
    assert "'unsafe-eval'" not in allowed_scripts
    for attributes, body in _SCRIPT.findall(page.text):
        if "src=" not in attributes:  # inline: allowed only by its own hash
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in allowed_scripts
    # Nothing from elsewhere: a machine without internet shows the same page.
    assert "://" not in page.text
    assert not [d for d in policy.values() for s in d if "://" in s or s in ("*", "https:")]
    assert sources, "the page loads its viewer"
    for source, answer in assets.items():
        assert source.startswith("/docs/assets/"), source
        assert answer.status_code == 200, source
        assert len(answer.content) > 100_000, source  # the viewer itself, not a stub
        kind = "text/css" if source.endswith(".css") else "text/javascript"
        assert answer.headers["content-type"].startswith(kind), source


async def test_every_html_answer_carries_a_policy(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    await upgrade_to_head(settings.resolved_database_url, MIGRATIONS, "alembic_version_gateway")
    app = create_app(settings)
    try:
        async with _client(app) as client:
            answers = [
                await client.get("/docs"),
                await client.get("/redoc"),
                await client.get("/"),
                await client.get("/auth/verify", params={"token": "x"}),
                await client.post("/auth/verify", data={"token": "not-a-token"}),
                await client.get("/no/such/page", headers={"Accept": "text/html"}),
                await client.get("/healthz"),
            ]
    finally:
        await app.state.gateway.db.dispose()
    for answer in answers:
        policy = _policy(answer)
        assert policy["default-src"] in (["'none'"], ["'self'"]), answer.request.url
        assert "frame-ancestors" in policy or "X-Frame-Options" in answer.headers
