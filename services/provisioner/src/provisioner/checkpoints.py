"""The checkpoint before a stop: the provisioner asks the instance's agent to save what a stop
would lose (``POST /checkpoint``), then keeps what it answered. Bounded in time, and never in the
stop's way: an agent that does not answer, or answers late, is recorded as such and the machine is
stopped all the same."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import httpx
from pydantic import ValidationError

from claudecloud_agentapi.checkpoint import Checkpoint, CheckpointRequest
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.logging import describe_error, get_logger

from .models import CheckpointRecord
from .service import AgentAddress

log = get_logger(__name__)

SLACK_SECONDS = 2.0
"""Beyond the agent's own deadline: the round trip and the answer's size."""


@dataclass(frozen=True)
class Taken:
    """What a stop's checkpoint came to: the agent's answer, or why there is none."""

    reason: str
    checkpoint: Checkpoint | None = None
    error: str | None = None

    def record(self, instance_id: UUID) -> CheckpointRecord:
        payload = self.checkpoint.model_dump_json() if self.checkpoint is not None else None
        taken_at = self.checkpoint.taken_at if self.checkpoint is not None else utcnow()
        return CheckpointRecord(
            instance_id=instance_id,
            taken_at=taken_at,
            reason=self.reason,
            payload=payload,
            error=self.error,
        )


class Checkpointer:
    def __init__(self, deadline_seconds: float) -> None:
        self.deadline = deadline_seconds
        self._http = httpx.AsyncClient(timeout=deadline_seconds + SLACK_SECONDS)

    async def take(self, agent: AgentAddress | None, reason: str) -> Taken:
        """Ask the agent at ``agent`` for a checkpoint; never raises."""
        if agent is None:
            return Taken(reason, error="the instance had no agent address to ask")
        request = CheckpointRequest(reason=reason, deadline_seconds=self.deadline)
        try:
            response = await self._http.post(
                f"http://{agent.host}/checkpoint",
                content=request.model_dump_json(),
                headers={
                    "Authorization": f"Bearer {agent.secret.get_secret_value()}",
                    "Content-Type": "application/json",
                },
            )
            response.raise_for_status()
            return Taken(reason, Checkpoint.model_validate_json(response.content))
        except (httpx.HTTPError, ValidationError) as exc:
            error = f"the agent did not checkpoint: {describe_error(exc)}"
            log.warning("instance.checkpoint_failed", host=agent.host, error=error)
            return Taken(reason, error=error[:1000])

    async def close(self) -> None:
        await self._http.aclose()
