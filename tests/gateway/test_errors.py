"""Every error becomes one JSON shape, ``{"error": ..., "detail": ...}``, in one place."""

from __future__ import annotations

from pathlib import Path

from .conftest import ADMIN_KEY, BrokenProvisioner, Gateway, running

ADMIN = {"X-API-Key": ADMIN_KEY}


async def test_a_malformed_body_is_a_422_naming_the_field(gateway: Gateway) -> None:
    response = await gateway.client.post("/instances", json={"user_id": "nope"}, headers=ADMIN)

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "ValidationError"
    assert body["detail"].startswith("user_id: ")
    assert body["errors"][0]["loc"] == ["body", "user_id"]


async def test_an_unknown_path_is_a_json_404(gateway: Gateway) -> None:
    response = await gateway.client.get("/nowhere")

    assert response.status_code == 404
    assert response.json() == {"error": "NotFound", "detail": "Not Found"}


async def test_a_refused_caller_is_told_how_to_authenticate(gateway: Gateway) -> None:
    response = await gateway.client.get("/instances")

    assert response.status_code == 401
    assert response.json() == {"error": "MissingCredentials", "detail": "missing API key"}
    assert response.headers["www-authenticate"] == "Bearer"


async def test_an_unexpected_failure_is_a_500_without_internals(tmp_path: Path) -> None:
    async with running(tmp_path, BrokenProvisioner(garbled=True)) as gateway:
        response = await gateway.client.get("/instances", headers=ADMIN)

    assert response.status_code == 500
    assert response.json() == {"error": "InternalError", "detail": "internal error"}
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_over_the_rate_limit_is_a_429_with_retry_after(tmp_path: Path) -> None:
    async with running(tmp_path, rate_limit_api="2/minute") as gateway:
        user = {"Authorization": f"Bearer {await gateway.sign_in('ada@example.com')}"}
        codes = [(await gateway.client.get("/auth/me", headers=user)).status_code for _ in range(3)]
        refused = await gateway.client.get("/auth/me", headers=user)

    assert codes == [200, 200, 429]
    assert refused.json()["error"] == "TooManyRequests"
    assert int(refused.headers["retry-after"]) >= 1
