"""Delivering a user's credential to their instance's agent, over the path the proxies use: the
agent's address and secret from ``rpc.instance.endpoint``, the credential in an HTTPS-or-private
request body (``PUT /credentials``; ``DELETE /credentials?revision=``). Never on the bus.

Each push names the revision it carries and the agent ignores older ones, so a push may repeat
(a retried event, two replicas, a set racing a wake) without ever going back in time.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from claudecloud_agentapi import ClaudeStatus, CredentialPush
from claudecloud_common.logging import get_logger

from ..workspace.agents import Agent, AgentEndpoints, AgentHttp
from ..workspace.errors import AgentUnavailable, InstanceNotRunning
from .service import Delivery

log = get_logger(__name__)


class CredentialPusher:
    def __init__(self, endpoints: AgentEndpoints, http: AgentHttp, timeout: float) -> None:
        self.endpoints = endpoints
        self.http = http
        self.timeout = timeout

    async def push(self, agent: Agent, delivery: Delivery) -> ClaudeStatus:
        """Make the agent hold what ``delivery`` says; its status afterwards."""
        if delivery.kind is None or delivery.value is None:
            status = await self._call(
                agent, "DELETE", "/credentials", params={"revision": str(delivery.revision)}
            )
        else:
            push = CredentialPush(
                kind=delivery.kind, value=delivery.value, revision=delivery.revision
            )
            # The JSON dump carries the value in clear: in this request's body, nowhere else.
            status = await self._call(
                agent, "PUT", "/credentials", json=push.model_dump(mode="json")
            )
        log.info(
            "credential.delivered",
            instance_id=str(agent.instance_id),
            revision=delivery.revision,
            kind=delivery.kind.value if delivery.kind else None,
        )
        return status

    async def status(self, agent: Agent) -> ClaudeStatus:
        return await self._call(agent, "GET", "/claude")

    async def to_instance(self, instance_id: UUID, delivery: Delivery) -> ClaudeStatus | None:
        """Push to the instance if it runs; ``None`` when it does not (its next start will)."""
        try:
            agent = await self.endpoints.running(instance_id)
        except InstanceNotRunning:
            return None
        return await self.push(agent, delivery)

    async def _call(self, agent: Agent, method: str, path: str, **kwargs: Any) -> ClaudeStatus:
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
        return ClaudeStatus.model_validate_json(body)
