"""Bad input gets a precise 4xx with a useful message, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest

from devstack import Stack

BAD_CREATES: list[tuple[str, bytes, int, str]] = [
    ("malformed JSON", b'{"user_id": ', 422, "not valid JSON"),
    ("wrong type", b'{"user_id": 42}', 422, "user_id"),
    ("not a UUID", b'{"user_id": "alice"}', 422, "user_id: Input should be a valid UUID"),
    (
        "unknown field",
        f'{{"user_id": "{uuid4()}", "size": "xl"}}'.encode(),
        422,
        "size: Extra inputs are not permitted",
    ),
    ("missing field", b"{}", 422, "user_id: Field required"),
    ("not an object", b"[1, 2]", 422, "valid dictionary"),
]


@pytest.mark.parametrize(
    ("case", "body", "code", "says"), BAD_CREATES, ids=[c[0] for c in BAD_CREATES]
)
async def test_bad_create_bodies(
    api: httpx.AsyncClient, case: str, body: bytes, code: int, says: str
) -> None:
    response = await api.post(
        "/instances", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == code, response.text
    assert response.json()["error"] == "ValidationError"
    assert says in response.json()["detail"]


async def test_an_oversized_body_is_413(api: httpx.AsyncClient) -> None:
    huge = b'{"user_id": "' + b"x" * 200_000 + b'"}'
    response = await api.post(
        "/instances", content=huge, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "PayloadTooLarge"


async def test_an_oversized_chunked_body_is_413(api: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"user_id": "'
        for _ in range(100):
            yield b"x" * 4096
        yield b'"}'

    response = await api.post(
        "/instances", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "path", ["/instances/not-a-uuid", "/instances/123/pause", "/instances/../etc/passwd/wake"]
)
async def test_ids_that_are_not_uuids(api: httpx.AsyncClient, path: str) -> None:
    method = "POST" if path.endswith(("pause", "wake")) else "GET"
    response = await api.request(method, path)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"] in ("ValidationError", "NotFound")


async def test_wrong_methods_and_query_types(api: httpx.AsyncClient, stack: Stack) -> None:
    wrong_method = await api.put("/instances")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "MethodNotAllowed"
    bad_query = await api.get("/instances", params={"user_id": "nobody"})
    assert bad_query.status_code == 422
    bad_flag = await api.delete(f"/instances/{uuid4()}", params={"purge": "perhaps"})
    assert bad_flag.status_code == 422
