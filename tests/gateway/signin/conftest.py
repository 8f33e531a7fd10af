"""Sign-in tests: a real SMTP server (aiosmtpd) that keeps every mail, a real platform (NATS,
provisioner with the fake provider, gateway on Postgres) started once for the folder, and
in-process gateways for what needs a fresh rate limiter or a special setting."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI

from claudecloud_common.migrations import upgrade_to_head
from devstack import SERVICES, Stack, local_config
from gateway.app import MIGRATIONS, create_app
from gateway.settings import GatewaySettings
from gateway.state import app_state
from tests.mail import MailCatcher
from tests.support import create_database, drop_database, free_port

JWT_SECRET = "test-jwt-secret-" + "x" * 32
ISSUER = "claudecloud"


@pytest.fixture(scope="session")
def smtp() -> Iterator[tuple[MailCatcher, int]]:
    catcher = MailCatcher()
    port = free_port()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    yield catcher, port
    controller.stop()


@pytest.fixture(scope="session")
def mail(smtp: tuple[MailCatcher, int]) -> MailCatcher:
    return smtp[0]


def smtp_env(port: int) -> dict[str, str]:
    return {
        "GATEWAY_SMTP_HOST": "127.0.0.1",
        "GATEWAY_SMTP_PORT": str(port),
        "GATEWAY_SMTP_STARTTLS": "false",
        "GATEWAY_SMTP_SENDER": "ClaudeCloud <sign-in@claudecloud.test>",
    }


@pytest.fixture(scope="session")
async def stack(
    smtp: tuple[MailCatcher, int], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """One platform for the folder. Rate limits are raised here (many tests sign in from one
    address); the limits themselves are shown on in-process gateways."""
    tmp = tmp_path_factory.mktemp("auth-stack")
    probe = await create_database("cc_auth")
    server_url = probe
    port = free_port()
    config = local_config(
        tmp,
        provider="fake",
        database_url=server_url,
        port=port,
        env={
            **smtp_env(smtp[1]),
            "GATEWAY_JWT_SECRET": JWT_SECRET,
            "GATEWAY_BASE_URL": f"http://127.0.0.1:{port}",
            "GATEWAY_RATE_LIMIT_LOGIN": "1000/minute",
            "GATEWAY_RATE_LIMIT_API": "10000/minute",
            "OUTBOX_POLL_SECONDS": "0.5",
            "GATEWAY_ADMISSION_TIMEOUT_SECONDS": "2",
            # Webhooks given up on in seconds, not a day (test_webhooks.py: the owner's mail).
            "WEBHOOKS_RETRY_WINDOW_SECONDS": "2",
            "WEBHOOKS_RETRY_BACKOFF_SECONDS": "[0.3]",
            "WEBHOOKS_POLL_SECONDS": "0.2",
        },
    )
    platform = Stack(config)
    try:
        await asyncio.to_thread(platform.start)
    except Exception:
        platform.stop_all()
        _print_logs(tmp / "logs")
        raise
    yield platform
    platform.stop_all()
    for service in SERVICES:
        await drop_database(f"{server_url}_{service.name}")
    await drop_database(probe)


def _print_logs(folder: Path) -> None:
    for log in sorted(folder.glob("*.log")):
        print(f"----- {log.name} -----\n{log.read_text()[-6000:]}")


def base_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.config.port}"


@pytest.fixture
async def anonymous(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url(stack), timeout=10) as client:
        yield client


@pytest.fixture
async def admin(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"X-API-Key": stack.config.admin_api_key}
    async with httpx.AsyncClient(base_url=base_url(stack), headers=headers, timeout=10) as client:
        yield client


def new_email(name: str = "user") -> str:
    return f"{name}-{uuid4().hex[:10]}@example.com"


def token_of(link: str) -> str:
    return httpx.URL(link).params["token"]


async def sign_in(client: httpx.AsyncClient, mail: MailCatcher, email: str) -> dict[str, Any]:
    """Log in, take the link from the mail, spend it as an API client: the session body."""
    response = await client.post("/auth/login", json={"email": email})
    assert response.status_code == 202, response.text
    link = await mail.next_link(email)
    verified = await client.post(
        "/auth/verify", json={"token": token_of(link)}, headers={"Accept": "application/json"}
    )
    assert verified.status_code == 200, verified.text
    body: dict[str, Any] = verified.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# In-process gateways (no bus needed for sign-in, limits and headers)


class InProcess:
    """Gateways in this process, each with its own SQLite file and its own in-memory limits;
    no bus behind them (sign-in, limits and headers do not need one)."""

    def __init__(self) -> None:
        self.apps: list[FastAPI] = []

    async def __call__(self, tmp: Path, **overrides: Any) -> FastAPI:
        await asyncio.to_thread(tmp.mkdir, parents=True, exist_ok=True)
        values: dict[str, Any] = {
            "data_dir": tmp,
            "database_url": None,
            "jwt_secret": JWT_SECRET,
            "admin_api_key": "admin-" + "k" * 32,
            **overrides,
        }
        settings = GatewaySettings(**values)
        url = settings.resolved_database_url
        await upgrade_to_head(url, MIGRATIONS, "alembic_version_gateway")
        app = create_app(settings)
        self.apps.append(app)
        return app

    async def close(self) -> None:
        for app in self.apps:
            await app_state(app).db.dispose()


@pytest.fixture
async def in_process() -> AsyncIterator[InProcess]:
    gateways = InProcess()
    yield gateways
    await gateways.close()


def client_of(app: FastAPI, base: str = "http://testserver") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=base)


def shellcheck(script: str, folder: Path) -> None:
    """Fail with shellcheck's findings unless ``script`` passes it."""
    path = folder / f"connect-{uuid4().hex[:8]}.sh"
    path.write_text(script)
    checked = subprocess.run(["shellcheck", str(path)], check=False, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + script
