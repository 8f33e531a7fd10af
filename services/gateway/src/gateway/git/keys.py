"""``GET /instances/{id}/ssh-key``: the workstation's SSH public key, for those who prefer SSH
to the platform's tokens (the agent makes the key on the workstation's first start; the private
half never leaves it)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from claudecloud_agentapi import SshKey
from claudecloud_common.errors import UnavailableError

from ..deps import CALLER_ERRORS, CallerDep, StateDep
from ..errors import error_responses
from ..instances.errors import InstanceNotFound
from ..ownership import owned_agent
from ..workspace.errors import AgentUnavailable, InstanceNotRunning

router = APIRouter(prefix="/instances", tags=["git"])


@router.get(
    "/{instance_id}/ssh-key",
    response_model=SshKey,
    responses=error_responses(
        *CALLER_ERRORS, InstanceNotFound, InstanceNotRunning, AgentUnavailable, UnavailableError
    ),
)
async def ssh_key(instance_id: UUID, caller: CallerDep, state: StateDep) -> SshKey:
    """Your running workstation's SSH public key: add it to your git provider to use SSH."""
    for fresh in (False, True):
        if fresh:
            state.agent_endpoints.forget(instance_id)  # a stale secret: the machine was remade
        agent = await owned_agent(state.agent_endpoints, caller.user_id, instance_id)
        response = await state.agent_http.send(agent, "GET", "/ssh-key")
        try:
            body = await response.aread()
        finally:
            await response.aclose()
        if response.status_code != 401:
            break
    if response.status_code != 200:
        raise AgentUnavailable(f"the workstation did not give its key ({response.status_code})")
    return SshKey.model_validate_json(body)
