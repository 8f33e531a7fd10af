"""Rate limits, security headers on every answer, and a configuration that refuses to start."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.state import app_state
from tests.mail import MailCatcher

from .conftest import (
    InProcess,
    bearer,
    client_of,
    new_email,
    smtp_env,
    token_of,
)

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-xss-protection": "0",
}


def assert_security_headers(response: httpx.Response, *, https: bool = False) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.status_code)
    assert "camera=()" in response.headers["permissions-policy"]
    hsts = response.headers.get("strict-transport-security")
    assert (hsts is not None) == https, hsts


def _smtp_settings(smtp: tuple[MailCatcher, int]) -> dict[str, Any]:
    return {k.removeprefix("GATEWAY_").lower(): v for k, v in smtp_env(smtp[1]).items()}


def _address() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@pytest.fixture
async def app(tmp_path: Path, smtp: tuple[MailCatcher, int], in_process: InProcess) -> FastAPI:
    return await in_process(tmp_path, **_smtp_settings(smtp))


async def test_the_sixth_login_in_a_minute_is_429_with_retry_after(app: FastAPI) -> None:
    async with client_of(app) as client:
        answers = [
            await client.post("/auth/login", json={"email": new_email("eager")}) for _ in range(6)
        ]
    assert [a.status_code for a in answers] == [202] * 5 + [429]
    refused = answers[-1]
    assert refused.json()["error"] == "TooManyRequests"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert_security_headers(refused)


async def test_forwarded_for_counts_only_behind_a_trusted_proxy(
    tmp_path: Path, smtp: tuple[MailCatcher, int], in_process: InProcess
) -> None:
    direct = await in_process(tmp_path / "direct", **_smtp_settings(smtp))
    async with client_of(direct) as client:  # spoofed headers do not make new clients
        codes = await _six_logins_from_new_addresses(client)
    assert codes[-1] == 429

    proxied = await in_process(
        tmp_path / "proxied", trusted_proxies="127.0.0.1", **_smtp_settings(smtp)
    )
    async with client_of(proxied) as client:  # the ASGI test client's peer is 127.0.0.1
        codes = await _six_logins_from_new_addresses(client)
    assert codes == [202] * 6


async def test_replicas_share_the_limit_through_redis(
    tmp_path: Path, smtp: tuple[MailCatcher, int], in_process: InProcess, redis_url: str
) -> None:
    shared = {
        "redis_url": redis_url,
        "trusted_proxies": "127.0.0.1",
        **_smtp_settings(smtp),
    }
    one = await in_process(tmp_path / "one", **shared)
    two = await in_process(tmp_path / "two", **shared)
    client_address = {"X-Forwarded-For": _address()}  # a fresh client for this run
    async with client_of(one) as first, client_of(two) as second:
        codes = []
        for replica in (first, second, first, second, first, second):
            response = await replica.post(
                "/auth/login", json={"email": new_email()}, headers=client_address
            )
            codes.append(response.status_code)
    assert codes == [202] * 5 + [429]


async def test_the_api_limit_applies_to_signed_in_users(
    tmp_path: Path, smtp: tuple[MailCatcher, int], in_process: InProcess
) -> None:
    app = await in_process(tmp_path, rate_limit_api="3/minute", **_smtp_settings(smtp))
    mail = smtp[0]
    email = new_email("busy")
    async with client_of(app) as client:
        await client.post("/auth/login", json={"email": email})
        magic = token_of(await mail.next_link(email))
        verified = await client.post(
            "/auth/verify", json={"token": magic}, headers={"Accept": "application/json"}
        )
        token = verified.json()["token"]
        codes = [
            (await client.get("/auth/me", headers=bearer(token))).status_code for _ in range(4)
        ]
        admin_key = app_state(app).settings.admin_api_key
        assert admin_key is not None
        admin = {"X-API-Key": admin_key.get_secret_value()}
        operator = [(await client.get("/auth/me", headers=admin)).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429]
    assert operator == [200] * 5  # operators are not limited


async def test_headers_on_a_404_a_413_and_a_500(app: FastAPI) -> None:
    async def explode() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/explode", explode)
    async with client_of(app) as client:
        missing = await client.get("/no/such/page")
        too_large = await client.post("/auth/login", content=b"x" * 100_000)
        broken = await client.get("/explode")
        unauthorised = await client.get("/auth/me")
    assert missing.status_code == 404
    assert too_large.status_code == 413
    assert broken.status_code == 500
    assert broken.json() == {"error": "InternalError", "detail": "internal error"}
    assert unauthorised.status_code == 401
    for response in (missing, too_large, broken, unauthorised):
        assert_security_headers(response)


async def test_under_https_hsts_and_a_secure_host_only_cookie(
    tmp_path: Path, smtp: tuple[MailCatcher, int], in_process: InProcess
) -> None:
    app = await in_process(tmp_path, base_url="https://cloud.example", **_smtp_settings(smtp))
    email = new_email("secure")
    async with client_of(app, "https://cloud.example") as client:
        asked = await client.post("/auth/login", json={"email": email})
        link = await smtp[0].next_link(email)
        assert link.startswith("https://cloud.example/auth/verify?token=")
        verified = await client.post("/auth/verify", data={"token": token_of(link)})
        me = await client.get("/auth/me")
    assert_security_headers(asked, https=True)
    cookie = verified.headers["set-cookie"]
    assert cookie.startswith("__Host-session=")
    assert "Secure" in cookie
    assert "Path=/" in cookie
    assert "Domain" not in cookie
    assert me.status_code == 200


async def test_the_link_is_built_from_base_url_not_the_host_header(
    tmp_path: Path, smtp: tuple[MailCatcher, int], in_process: InProcess
) -> None:
    app = await in_process(tmp_path, base_url="https://cloud.example", **_smtp_settings(smtp))
    email = new_email("phished")
    async with client_of(app) as client:
        await client.post(
            "/auth/login",
            json={"email": email},
            headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
        )
    link = await smtp[0].next_link(email)
    assert link.startswith("https://cloud.example/auth/verify?token=")


async def test_a_server_error_in_connect_is_still_a_script(
    tmp_path: Path, smtp: tuple[MailCatcher, int], in_process: InProcess
) -> None:
    # No bus behind this gateway: the query for the user's instance fails.
    app = await in_process(tmp_path, rpc_timeout_seconds=0.2, **_smtp_settings(smtp))
    email = new_email("unlucky")
    async with client_of(app) as client:
        await client.post("/auth/login", json={"email": email})
        magic = token_of(await smtp[0].next_link(email))
        verified = await client.post(
            "/auth/verify", json={"token": magic}, headers={"Accept": "application/json"}
        )
        script = await client.get("/connect.sh", headers=bearer(verified.json()["token"]))
    assert script.status_code >= 500
    assert script.text.startswith("#!/usr/bin/env bash")
    ran = await asyncio.to_thread(
        subprocess.run, ["bash", "-s"], input=script.text, capture_output=True, text=True
    )
    assert ran.returncode == 1
    assert "try again" in ran.stderr


def _gateway(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GATEWAY_")
        and k not in {"DATABASE_URL", "JWT_SECRET", "ADMIN_API_KEY", "STRIPE_SECRET_KEY"}
    }
    clean.update({"DATA_DIR": str(tmp_path), "GATEWAY_HTTP_PORT": "1"}, **env)
    return subprocess.run(
        [sys.executable, "-m", "gateway"],
        check=False,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_with_default_secrets_exits_naming_every_problem(tmp_path: Path) -> None:
    result = _gateway({"ENVIRONMENT": "production", "BILLING_ENABLED": "true"}, tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    for problem in ("DATABASE_URL", "JWT_SECRET", "STRIPE_SECRET_KEY", "ADMIN_API_KEY"):
        assert problem in result.stderr, result.stderr
    assert "refusing to start" in result.stderr


def test_production_with_real_secrets_names_only_what_is_missing(tmp_path: Path) -> None:
    env = {
        "ENVIRONMENT": "production",
        "DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/unused",
        "JWT_SECRET": "a-real-secret-of-enough-length-0123456789",
        "ADMIN_API_KEY": "a-real-admin-key-of-enough-length-0123456789",
        "SMTP_HOST": "smtp.example",
        "CREDENTIALS_KEY": "a-real-credentials-key-of-enough-length-0123456789",
        "BILLING_ENABLED": "true",
    }
    result = _gateway(env, tmp_path)
    assert result.returncode != 0
    problems = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert problems == ["  - STRIPE_SECRET_KEY is required when BILLING_ENABLED is true"]


def test_a_short_jwt_secret_is_refused_everywhere(tmp_path: Path) -> None:
    result = _gateway({"JWT_SECRET": "too-short"}, tmp_path)
    assert result.returncode != 0
    assert "JWT_SECRET must be at least 32 bytes" in result.stderr


async def _six_logins_from_new_addresses(client: httpx.AsyncClient) -> list[int]:
    """Six sign-in requests, each claiming another client address in ``X-Forwarded-For``."""
    return [
        (
            await client.post(
                "/auth/login",
                json={"email": new_email()},
                headers={"X-Forwarded-For": _address()},
            )
        ).status_code
        for _ in range(6)
    ]
