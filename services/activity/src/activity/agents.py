"""Asking instance agents what is really going on: ``GET /activity`` with the instance's secret,
a bounded number at a time, each within a timeout."""

from __future__ import annotations

import asyncio

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

__all__ = ["AgentClient", "AgentReport", "AgentUnreachable"]


class AgentReport(BaseModel):
    """What the activity rules read from an agent's ``/activity`` (it says more)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    terminals: int = 0
    tmux_clients: int = 0
    tmux_input_at: float | None = None
    chat_turns: int = 0
    boot_id: str = ""
    inputs: int = 0
    seconds_since_input: float | None = None
    turns_started: int = 0
    turns_ended: int = 0
    seconds_since_turn_ended: float | None = None
    oom_kills: int | None = None


class AgentUnreachable(Exception):
    """The agent did not answer, or answered with something other than its report."""


class AgentClient:
    def __init__(self, *, timeout: float, concurrency: int) -> None:
        self._gate = asyncio.Semaphore(concurrency)
        self._timeout = timeout
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._http = httpx.AsyncClient(timeout=timeout, limits=limits)

    async def report(self, host: str, secret: SecretStr) -> AgentReport:
        headers = {"Authorization": f"Bearer {secret.get_secret_value()}"}
        try:
            async with self._gate:
                response = await asyncio.wait_for(
                    self._http.get(f"http://{host}/activity", headers=headers), self._timeout
                )
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            raise AgentUnreachable(f"no answer from the agent ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise AgentUnreachable(f"the agent answered {response.status_code}")
        try:
            return AgentReport.model_validate_json(response.content)
        except ValidationError as exc:
            raise AgentUnreachable("the agent's report was not readable") from exc

    async def close(self) -> None:
        await self._http.aclose()
