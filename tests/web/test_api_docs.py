"""``/docs`` and ``/redoc`` in a real browser: each viewer draws the API from what the gateway
serves, so a machine without internet shows it too, and nothing it loads reaches another address
(ReDoc's bundle shows Redocly's logo from their CDN: the page's policy refuses it before it leaves,
and ReDoc then hides it)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import ConsoleMessage, async_playwright

from claudecloud_common.server import http_server, listen_socket
from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.support import eventually, free_port

# The gateway alone (no bus, no containers): not the docker tier of the other browser tests.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
async def gateway_url(tmp_path: Path) -> AsyncIterator[str]:
    settings = GatewaySettings(
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
        jwt_secret=secrets.token_urlsafe(48),
        credentials_key=secrets.token_urlsafe(48),
    )
    server = http_server(create_app(settings), lifespan="off")  # the pages need no state
    port = free_port()
    task = asyncio.create_task(server.serve(sockets=[listen_socket("127.0.0.1", port)]))
    await eventually(lambda: server.started or task.done(), what="the gateway serving")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.mark.parametrize(
    ("path", "drawn"),
    [("/docs", ".swagger-ui .info .title"), ("/redoc", "h1:has-text('ClaudeCloud')")],
)
async def test_the_api_docs_draw_from_this_origin_alone(
    gateway_url: str, path: str, drawn: str
) -> None:
    requested: list[str] = []
    refused: list[str] = []
    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"]
        )
        try:
            page = await browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.on("console", lambda m: _error(m, errors))
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("requestfailed", lambda r: (refused if r.failure == "csp" else errors).append(r.url))
            await page.goto(gateway_url + path)
            title = await page.locator(drawn).first.text_content(timeout=30_000)
        finally:
            await browser.close()

    assert title is not None
    assert "ClaudeCloud" in title
    elsewhere = [url for url in requested if not url.startswith((gateway_url, "blob:", "data:"))]
    assert set(elsewhere) <= set(refused)  # nothing left this machine
    assert [e for e in errors if not any(url in e for url in refused)] == []


def _error(message: ConsoleMessage, errors: list[str]) -> None:
    if message.type == "error":
        errors.append(message.text)
