"""A signed-in user reaches their own instance only; someone else's is a 404."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.mail import MailCatcher
from tests.support import eventually

from .conftest import bearer, new_email, sign_in


async def _status(client: httpx.AsyncClient, token: str, instance_id: str) -> str | None:
    response = await client.get(f"/instances/{instance_id}", headers=bearer(token))
    return response.json()["status"] if response.status_code == 200 else None


@pytest.fixture
async def two_users(
    anonymous: httpx.AsyncClient, mail: MailCatcher
) -> tuple[dict[str, Any], dict[str, Any]]:
    a = await sign_in(anonymous, mail, new_email("alice"))
    b = await sign_in(anonymous, mail, new_email("bob"))
    return a, b


async def test_a_user_creates_and_reads_their_own_instance(
    anonymous: httpx.AsyncClient, two_users: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    a, _ = two_users
    created = await anonymous.post("/instances", json={}, headers=bearer(a["token"]))
    assert created.status_code == 202, created.text
    assert created.json()["user_id"] == a["user_id"]  # from the token, not the body

    mine = await anonymous.get("/instances", headers=bearer(a["token"]))
    assert [i["id"] for i in mine.json()] == [created.json()["id"]]


async def test_nobody_touches_someone_elses_instance(
    anonymous: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    two_users: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    a, b = two_users
    created = await anonymous.post("/instances", headers=bearer(b["token"]))
    assert created.status_code == 202, created.text
    theirs = created.json()["id"]
    await eventually(
        lambda: _is_running(anonymous, b["token"], theirs), what="B's instance running"
    )

    as_a = bearer(a["token"])
    for method, path in [
        ("GET", f"/instances/{theirs}"),
        ("POST", f"/instances/{theirs}/pause"),
        ("POST", f"/instances/{theirs}/wake"),
        ("DELETE", f"/instances/{theirs}"),
        ("GET", f"/instances/{theirs}/events"),
    ]:
        response = await anonymous.request(method, path, headers=as_a)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"] == "InstanceNotFound"

    assert (await anonymous.get("/instances", headers=as_a)).json() == []
    listed = await anonymous.get("/instances", params={"user_id": b["user_id"]}, headers=as_a)
    assert listed.json() == []

    connect = await anonymous.get("/connect.sh", headers=as_a)
    assert connect.status_code == 404
    assert "no instance" in connect.text
    named = await anonymous.get("/connect.sh", params={"user_id": b["user_id"]}, headers=as_a)
    assert named.status_code == 403
    assert "exit 1" in named.text

    for_b = await anonymous.post("/instances", json={"user_id": b["user_id"]}, headers=as_a)
    assert for_b.status_code == 403
    assert for_b.json()["error"] == "NotYours"

    # Nothing happened to it, and the admin key still reaches any user's instance.
    assert await _status(anonymous, b["token"], theirs) == "running"
    assert (await admin.get(f"/instances/{theirs}")).status_code == 200
    by_admin = await admin.get("/connect.sh", params={"user_id": b["user_id"]})
    assert by_admin.status_code == 200


async def _is_running(client: httpx.AsyncClient, token: str, instance_id: str) -> bool:
    return await _status(client, token, instance_id) == "running"


async def test_the_admin_key_still_names_the_user(
    admin: httpx.AsyncClient, mail: MailCatcher, anonymous: httpx.AsyncClient
) -> None:
    user = await sign_in(anonymous, mail, new_email("carol"))
    without = await admin.post("/instances", json={})
    assert without.status_code == 422
    created = await admin.post("/instances", json={"user_id": user["user_id"]})
    assert created.status_code == 202
    seen = await anonymous.get(f"/instances/{created.json()['id']}", headers=bearer(user["token"]))
    assert seen.status_code == 200
