"""What workstations' agents ask about git (on the workstations' listener, see
:mod:`gateway.workstations`), authenticated with the instance's agent secret:

- ``GET /agent/instances/{id}/git``: the provider's hosts, for the system-wide git
  configuration (``credential.<host>.helper``); none when no provider is configured;
- ``POST /agent/instances/{id}/git/credential``: a current token of the instance's owner for
  git (refreshed first when it expires), or a refusal git shows: ``GitNotConnected`` /
  ``GitReconnectNeeded`` (409, how to connect), ``NotProviderHost`` (404: not ours to answer).

An agent gets its own owner's token and nothing else: the instance comes from the path, the
owner from the provisioner's record, the secret must be that instance's.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from claudecloud_agentapi import CredentialQuery, GitCredential, GitSetup
from claudecloud_common.logging import get_logger

from ..deps import StateDep
from ..workstations import CallingAgent
from .routes import connections

router = APIRouter(prefix="/agent/instances", tags=["workstations"], include_in_schema=False)
log = get_logger(__name__)


@router.get("/{instance_id}/git", response_model=GitSetup)
async def git_setup(instance_id: UUID, agent: CallingAgent, state: StateDep) -> GitSetup:
    """Which hosts the workstation's git asks the agent about."""
    return state.git.setup() if state.git is not None else GitSetup()


@router.post("/{instance_id}/git/credential", response_model=GitCredential)
async def git_credential(
    instance_id: UUID,
    query: CredentialQuery,
    agent: CallingAgent,
    state: StateDep,
    response: Response,
) -> GitCredential:
    """A current token of the instance's owner for git, for the provider's host only."""
    git = connections(state.settings.git_provider, state)
    credential = await git.credential(agent.user_id, query)
    log.info("git.credential_issued", instance_id=str(instance_id), user_id=str(agent.user_id))
    response.headers["Cache-Control"] = "no-store"
    return credential
