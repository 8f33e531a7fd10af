"""The dashboard's static export served by the gateway: each page with a policy that names its own
inline scripts, assets gzipped and cached for good, the API first, and the minimal page when the
export is not built."""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.app import create_app
from gateway.settings import GatewaySettings

INLINE = b'self.__next_f.push([1,"page data"])'
PAGE = b'<!doctype html><html><head><script src="/_next/static/chunks/app.js" async></script>'
PAGE += b"<script>" + INLINE + b"</script></head><body>landing</body></html>"
ASSET = b"console.log('the app');\n" * 200


def _export(folder: Path) -> Path:
    (folder / "signin").mkdir(parents=True)
    (folder / "verify").mkdir(parents=True)
    (folder / "verify" / "index.html").write_bytes(PAGE.replace(b"landing", b"confirm"))
    (folder / "_next" / "static" / "chunks").mkdir(parents=True)
    (folder / "index.html").write_bytes(PAGE)
    (folder / "signin" / "index.html").write_bytes(PAGE.replace(b"landing", b"sign in"))
    (folder / "icon.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (folder / "_next" / "static" / "chunks" / "app.js").write_bytes(ASSET)
    (folder / "index.txt").write_text("0:page data for client-side navigation")
    # What the build leaves beside the pages: none of it is served.
    (folder / ".source-hash").write_text("0123abcd")
    (folder / "_next" / "static" / ".cache").mkdir()
    (folder / "_next" / "static" / ".cache" / "state.json").write_text("{}")
    (folder / "_next" / "static" / "chunks" / "app.js.map").write_text('{"sources": []}')
    (folder / "build.sh").write_text("#!/bin/sh\n")
    return folder


def _app(tmp_path: Path, web_dir: Path | None) -> FastAPI:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
        "jwt_secret": secrets.token_urlsafe(48),
        "credentials_key": secrets.token_urlsafe(48),
        "web_dir": web_dir,
    }
    return create_app(GatewaySettings(**values))


@pytest.fixture
async def client(tmp_path: Path) -> Any:
    app = _app(tmp_path, _export(tmp_path / "out"))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await app.state.gateway.db.dispose()


async def test_pages_allow_exactly_their_own_inline_scripts(client: httpx.AsyncClient) -> None:
    landing = await client.get("/")
    signin, signin_slash = await client.get("/signin"), await client.get("/signin/")

    digest = base64.b64encode(hashlib.sha256(INLINE).digest()).decode()
    policy = landing.headers["content-security-policy"]
    assert landing.text.endswith("landing</body></html>")
    assert f"script-src 'self' 'sha256-{digest}';" in policy
    assert "unsafe-eval" not in policy
    assert "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert landing.headers["cache-control"] == "no-cache"
    assert "sign in" in signin.text
    assert signin_slash.text == signin.text


async def test_assets_are_gzipped_once_and_cached_for_good(client: httpx.AsyncClient) -> None:
    path = "/_next/static/chunks/app.js"
    zipped = await client.get(path, headers={"Accept-Encoding": "gzip"})
    plain = await client.get(path, headers={"Accept-Encoding": "identity"})
    missing = await client.get("/_next/static/chunks/gone.js")

    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < len(ASSET) / 10
    assert zipped.content == ASSET  # httpx undoes the gzip
    assert plain.content == ASSET
    assert "content-encoding" not in plain.headers
    assert zipped.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert zipped.headers["content-type"].startswith("text/javascript")
    assert missing.status_code == 404


async def test_only_the_exports_pages_and_assets_are_served(client: httpx.AsyncClient) -> None:
    navigation = await client.get("/index.txt")
    refused = {
        path: await client.get(path)
        for path in (
            "/.source-hash",
            "/_next/static/.cache/state.json",
            "/_next/static/chunks/app.js.map",
            "/build.sh",
        )
    }

    assert navigation.status_code == 200  # the pages' data for client-side navigation
    for path, answer in refused.items():
        assert answer.status_code == 404, path
        assert b"0123abcd" not in answer.content


async def test_the_api_keeps_its_answers_and_the_session_probe_never_401s(
    client: httpx.AsyncClient,
) -> None:
    api = await client.get("/instances")
    probe = await client.get("/web/session")
    icon = await client.get("/favicon.ico")

    assert api.status_code == 401
    assert api.headers["content-type"].startswith("application/json")
    assert probe.status_code == 200
    assert probe.json() == {
        "signed_in": False,
        "email": None,
        "features": {"billing": False, "activity": True},
    }
    assert probe.headers["cache-control"] == "no-store"
    assert icon.headers["content-type"].startswith("image/svg+xml")


async def test_without_a_built_export_the_minimal_page_stays(tmp_path: Path) -> None:
    app = _app(tmp_path, tmp_path / "never-built")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        page = await client.get("/")
        probe = await client.get("/web/session")
    await app.state.gateway.db.dispose()

    assert page.status_code == 401
    assert "Not signed in" in page.text
    assert probe.status_code == 200


async def test_the_sign_in_link_opens_the_dashboards_page_which_spends_nothing(
    client: httpx.AsyncClient,
) -> None:
    opened = await client.get("/auth/verify", params={"token": "a-magic-link-token"})
    spent = await client.post("/auth/verify", data={"token": "not-a-token"})

    assert opened.status_code == 200
    assert "confirm" in opened.text
    assert opened.headers["cache-control"] == "no-store"
    assert "script-src 'self' 'sha256-" in opened.headers["content-security-policy"]
    assert spent.status_code == 401  # the POST is still the gateway's
