"""Delivering a user's credential to their instance's agent, over the path the proxies use: the
agent's address and secret from ``rpc.instance.endpoint``, the credential in an HTTPS-or-private
request body (``PUT /credentials``; ``DELETE /credentials?revision=``). Never on the bus.

Each push names the revision it carries and the agent ignores older ones, so a push may repeat
(a retried event, two replicas, a set racing a wake) without ever going back in time.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel

from claudecloud_common.logging import get_logger

from ..workspace.agents import Agent, AgentEndpoints, AgentHttp
from ..workspace.errors import AgentUnavailable, InstanceNotRunning
from .service import CredentialKind, Delivery

log = get_logger(__name__)


class AgentClaudeStatus(BaseModel):
    """How Claude Code in the instance is signed in, as its agent reports it."""

    signed_in: bool
    method: str
    """``subscription`` (Claude's own sign-in), ``api_key``, ``oauth_token`` or ``none``."""
    subscription: bool
    stored_credential: CredentialKind | None = None
    revision: int | None = None


class CredentialPusher:
    def __init__(self, endpoints: AgentEndpoints, http: AgentHttp, timeout: float) -> None:
        self.endpoints = endpoints
        self.http = http
        self.timeout = timeout

    async def push(self, agent: Agent, delivery: Delivery) -> AgentClaudeStatus:
        """Make the agent hold what ``delivery`` says; its status afterwards."""
        if delivery.kind is None or delivery.value is None:
            status = await self._call(
                agent, "DELETE", "/credentials", params={"revision": str(delivery.revision)}
            )
        else:
            body = {
                "kind": delivery.kind.value,
                "value": delivery.value.get_secret_value(),
                "revision": delivery.revision,
            }
            status = await self._call(agent, "PUT", "/credentials", json=body)
        log.info(
            "credential.delivered",
            instance_id=str(agent.instance_id),
            revision=delivery.revision,
            kind=delivery.kind.value if delivery.kind else None,
        )
        return status

    async def status(self, agent: Agent) -> AgentClaudeStatus:
        return await self._call(agent, "GET", "/claude")

    async def to_instance(self, instance_id: UUID, delivery: Delivery) -> AgentClaudeStatus | None:
        """Push to the instance if it runs; ``None`` when it does not (its next start will)."""
        try:
            agent = await self.endpoints.running(instance_id)
        except InstanceNotRunning:
            return None
        return await self.push(agent, delivery)

    async def _call(self, agent: Agent, method: str, path: str, **kwargs: Any) -> AgentClaudeStatus:
        response = await self.http.send(agent, method, path, timeout=self.timeout, **kwargs)
        try:
            body = await response.aread()
        finally:
            await response.aclose()
        if response.status_code == 401:
            self.endpoints.forget(agent.instance_id)  # a stale secret: the next try asks again
        if response.status_code != 200:
            raise AgentUnavailable(
                f"the instance's agent answered {method} {path} with {response.status_code}"
            )
        return AgentClaudeStatus.model_validate_json(body)
