"""Asking instance agents what is really going on: ``GET /activity`` with the instance's secret,
a bounded number at a time, each within a timeout. What the rules read of the answer is the
agent's own :class:`~claudecloud_agentapi.ActivitySignals`.

aiohttp rather than httpx here: a poll asks thousands of agents at once, and httpx's connection
pool re-examines every pooled connection on every request (most of the poll's CPU at 10,000).
"""

from __future__ import annotations

import asyncio

import aiohttp
from pydantic import SecretStr, ValidationError

from claudecloud_agentapi import ActivitySignals

__all__ = ["AgentClient", "AgentUnreachable"]


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

    async def report(self, host: str, secret: SecretStr) -> ActivitySignals:
        """The part of the agent's ``GET /activity`` the rules read."""
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
            return ActivitySignals.model_validate_json(body)
        except ValidationError as exc:
            raise AgentUnreachable("the agent's report was not readable") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
