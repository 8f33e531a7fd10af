"""Talking to a running gateway the way a client would."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx

from tests.support import eventually


async def status(api: httpx.AsyncClient, instance_id: str | UUID) -> str | None:
    response = await api.get(f"/instances/{instance_id}")
    if response.status_code == 404:
        return None
    response.raise_for_status()
    value: str = response.json()["status"]
    return value


async def wait_for_status(
    api: httpx.AsyncClient, instance_id: str | UUID, wanted: str, timeout: float = 20
) -> None:
    await eventually(
        lambda: _is(api, instance_id, wanted),
        timeout=timeout,
        what=f"instance {instance_id} {wanted}",
    )


async def _is(api: httpx.AsyncClient, instance_id: str | UUID, wanted: str) -> bool:
    return await status(api, instance_id) == wanted


async def sse(api: httpx.AsyncClient, path: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Server-sent events from ``path`` as (event, data) pairs."""
    async with api.stream("GET", path, timeout=httpx.Timeout(30, read=30)) as response:
        response.raise_for_status()
        event = "message"
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                yield event, json.loads(line.split(":", 1)[1])
                event = "message"
