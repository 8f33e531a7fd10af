"""One ``identify`` for HTTP and WebSocket callers: the same tokens, cache and logout rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from tests.support import eventually

from .conftest import ADMIN_KEY, build, in_memory_bus, serving, sign_in_link


def sign_in(app: FastAPI, client: TestClient, email: str) -> dict[str, str]:
    """A bearer header for ``email``, from a sign-in link spent as a CLI does."""

    url = client.portal.call(sign_in_link, app, email)  # type: ignore[union-attr]
    token = url.rsplit("token=", 1)[1]
    spent = client.post(
        "/auth/verify", json={"token": token}, headers={"Accept": "application/json"}
    )
    assert spent.status_code == 200, spent.text
    return {"Authorization": f"Bearer {spent.json()['token']}"}


def socket_close(client: TestClient, path: str, headers: dict[str, str]) -> dict[str, Any]:
    """What the gateway says when it refuses a WebSocket: a close code and a reason."""
    with client.websocket_connect(path, headers=headers) as socket:
        message = dict(socket.receive())
    assert message["type"] == "websocket.close", message
    return message


@pytest.fixture
def instance() -> str:
    """An instance id to open sockets on: each is refused before whose it is matters."""
    return str(uuid4())


async def test_a_logged_out_session_is_refused_over_http_and_websocket_alike(
    tmp_path: Path, instance: str
) -> None:
    # Remembered users are trusted for a while: keep that cache on, as in production.
    app = build(tmp_path, session_check_cache_seconds=60.0)
    async with in_memory_bus(app):
        with serving(app) as client:
            user = sign_in(app, client, "ada@example.com")
            assert client.get("/auth/me", headers=user).status_code == 200  # now remembered
            assert client.post("/auth/logout", headers=user).status_code == 204

            http = client.get("/auth/me", headers=user)
            closed = socket_close(client, f"/instances/{instance}/terminal", user)

    assert http.status_code == 401
    assert http.json()["error"] == "SignedOut"
    assert closed["code"] == 4401
    assert closed["reason"] == http.json()["detail"] == "this session was signed out: sign in again"


async def test_no_credentials_and_a_forged_token_are_refused_on_both(
    tmp_path: Path, instance: str
) -> None:
    app = build(tmp_path)
    forged = {"Authorization": "Bearer not-a-token"}
    async with in_memory_bus(app):
        with serving(app) as client:
            nobody_http = client.get("/auth/me")
            nobody_socket = socket_close(client, f"/instances/{instance}/chat", {})
            forged_http = client.get("/auth/me", headers=forged)
            forged_socket = socket_close(client, f"/instances/{instance}/chat", forged)

    assert nobody_http.status_code == 401
    assert nobody_socket["code"] == 4401
    assert forged_http.json()["error"] == "TokenRejected"
    assert forged_socket["code"] == 4401
    assert forged_socket["reason"] == forged_http.json()["detail"] == "invalid session"


async def test_a_cookie_websocket_from_another_site_is_refused(
    tmp_path: Path, instance: str
) -> None:
    app = build(tmp_path)
    async with in_memory_bus(app):
        with serving(app) as client:
            token = sign_in(app, client, "ada@example.com")["Authorization"].split()[1]
            headers = {"Origin": "https://evil.example", "Cookie": f"session={token}"}
            closed = socket_close(client, f"/instances/{instance}/terminal", headers)

    assert closed["code"] == 4403


async def test_both_kinds_of_caller_share_one_remembered_user(
    tmp_path: Path, instance: str
) -> None:
    """Two replicas on one database: B remembers the user, A logs them out. Until B's cache
    expires both its HTTP routes and its WebSockets still let the session in, and then both
    refuse it: one cache, one rule."""
    replica_a = build(tmp_path)
    replica_b = build(tmp_path, session_check_cache_seconds=3.0)
    path = f"/instances/{instance}/terminal"
    async with in_memory_bus(replica_a), in_memory_bus(replica_b):
        with serving(replica_a) as a, serving(replica_b) as b:
            user = sign_in(replica_a, a, "ada@example.com")
            assert b.get("/auth/me", headers=user).status_code == 200  # B remembers ada
            assert a.post("/auth/logout", headers=user).status_code == 204

            remembered_http = b.get("/auth/me", headers=user).status_code
            remembered_socket = socket_close(b, path, user)["code"]
            await eventually(lambda: b.get("/auth/me", headers=user).status_code == 401)
            refused_socket = socket_close(b, path, user)["code"]

    assert remembered_http == 200
    assert remembered_socket == 4503  # past identify: no provisioner answers where it runs
    assert refused_socket == 4401


async def test_metrics_need_the_operator_key_on_the_public_port(tmp_path: Path) -> None:
    app = build(tmp_path)
    async with in_memory_bus(app):
        with serving(app) as client:
            user = sign_in(app, client, "ada@example.com")
            anyone = client.get("/metrics")
            signed_in_user = client.get("/metrics", headers=user)
            wrong_key = client.get("/metrics", headers={"X-API-Key": "admin-" + "x" * 40})
            by_header = client.get("/metrics", headers={"X-API-Key": ADMIN_KEY})
            as_prometheus = client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"})

    assert [r.status_code for r in (anyone, signed_in_user, wrong_key)] == [401, 401, 401]
    assert ADMIN_KEY not in wrong_key.text
    assert by_header.status_code == as_prometheus.status_code == 200
    assert "claudecloud_http_requests_total" in as_prometheus.text
