"""Asking instance agents what is really going on: ``GET /activity`` with the instance's secret,
a bounded number at a time, each within a timeout.

aiohttp rather than httpx here: a poll asks thousands of agents at once, and httpx's connection
pool re-examines every pooled connection on every request (most of the poll's CPU at 10,000).
"""

from __future__ import annotations

import asyncio

import aiohttp
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
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:  # made inside the running loop, on first use
            connector = aiohttp.TCPConnector(limit=self._concurrency, limit_per_host=0)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def report(self, host: str, secret: SecretStr) -> AgentReport:
        headers = {"Authorization": f"Bearer {secret.get_secret_value()}"}
        try:
            async with (
                self._gate,
                self._http().get(f"http://{host}/activity", headers=headers) as response,
            ):
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise AgentUnreachable(f"no answer from the agent ({type(exc).__name__})") from exc
        if response.status != 200:
            raise AgentUnreachable(f"the agent answered {response.status}")
        try:
            return AgentReport.model_validate_json(body)
        except ValidationError as exc:
            raise AgentUnreachable("the agent's report was not readable") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
