"""The signed-in user's Claude credential (``/me/claude-credential``) and how Claude Code is
signed in on an instance (``/instances/{id}/claude``).

A credential is stored encrypted and never returned: its kind and last four characters at most.
Storing or clearing it is committed first, then pushed to the user's running instance, which
uses it from the next chat turn or Claude pane start; an instance that starts later gets it then.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from claudecloud_agentapi import MIN_CREDENTIAL_CHARS, ClaudeStatus, CredentialKind
from claudecloud_common.contracts.audit import AuditKind
from claudecloud_common.contracts.instances import InstanceStatus
from claudecloud_common.errors import BadRequestError, UnavailableError
from claudecloud_common.logging import get_logger

from ..audit.who import WhoDep
from ..deps import CALLER_ERRORS, Caller, CallerDep, StateDep
from ..errors import PayloadTooLarge, error_responses
from ..instances.errors import InstanceNotFound
from ..ownership import owned_agent
from ..state import GatewayState
from ..workspace.errors import AgentUnavailable, InstanceNotRunning
from .delivery import CredentialPusher
from .errors import CredentialUnreadable, NoClaudeCredential
from .service import CredentialService, CredentialSummary, Delivery

router = APIRouter(tags=["claude"])
log = get_logger(__name__)


class NoUserAccount(BadRequestError):
    """The operator key has no credential of its own: sign in as the user."""


class CredentialBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: CredentialKind
    value: SecretStr = Field(
        min_length=MIN_CREDENTIAL_CHARS,
        max_length=4096,
        description="The API key or OAuth token (printable ASCII, no spaces); never returned",
    )

    @field_validator("value")
    @classmethod
    def _one_printable_word(cls, value: SecretStr) -> SecretStr:
        if not all("!" <= c <= "~" for c in value.get_secret_value()):
            raise ValueError("must be printable ASCII without spaces or line breaks")
        return value


class CredentialView(BaseModel):
    """The stored credential as it may be shown."""

    kind: CredentialKind
    last_four: str | None = Field(
        description="Its last four characters, to recognise it (none of one under 20 characters)"
    )
    updated_at: datetime
    delivered_to: list[UUID] = Field(
        default_factory=list, description="Running instances this change reached (a PUT's answer)"
    )


class ClaudeSignIn(BaseModel):
    """How Claude Code is signed in on the instance, and the user's stored credential."""

    instance_id: UUID
    signed_in: bool
    method: str = Field(description="subscription | api_key | oauth_token | none")
    subscription: bool = Field(description="Claude's own sign-in (/login) is in the home")
    stored_credential: CredentialKind | None


_ME_ERRORS = error_responses(*CALLER_ERRORS, NoUserAccount, CredentialUnreadable, UnavailableError)


def _user(caller: Caller) -> UUID:
    if caller.user_id is None:
        raise NoUserAccount("sign in as the user: a credential belongs to a user")
    return caller.user_id


def _pusher(state: GatewayState) -> CredentialPusher:
    timeout = state.settings.credential_push_timeout_seconds
    return CredentialPusher(state.agent_endpoints, state.agent_http, timeout)


async def _deliver(state: GatewayState, user_id: UUID, delivery: Delivery) -> list[UUID]:
    """Push to the user's running instances; one that fails gets it when it next starts or when
    its sign-in status is read."""
    delivered = []
    for view in await state.instances.list(user_id, live_only=True):
        if view.status is not InstanceStatus.RUNNING:
            continue
        try:
            if await _pusher(state).to_instance(view.id, delivery) is not None:
                delivered.append(view.id)
        except AgentUnavailable as exc:
            log.warning("credential.not_delivered", instance_id=str(view.id), reason=exc.detail)
    return delivered


@router.put(
    "/me/claude-credential",
    response_model=CredentialView,
    responses=error_responses(*CALLER_ERRORS, NoUserAccount, PayloadTooLarge, UnavailableError),
)
async def store_credential(
    body: CredentialBody, caller: CallerDep, who: WhoDep, state: StateDep, response: Response
) -> CredentialView:
    """Store an Anthropic API key or Claude Code OAuth token for Claude Code in your instances
    (replacing any other); your running instance uses it from its next chat turn."""
    user_id = _user(caller)
    async with state.db.transaction() as session:
        service = CredentialService(session, state.credential_cipher)
        delivery = await service.store(user_id, body.kind, body.value)
        summary = await service.summary(user_id)
    who.record(AuditKind.CREDENTIAL_SET, user_id, credential=body.kind.value)  # never the value
    response.headers["Cache-Control"] = "no-store"
    return _view(summary, await _deliver(state, user_id, delivery))


@router.get(
    "/me/claude-credential",
    response_model=CredentialView,
    responses=error_responses(*CALLER_ERRORS, NoUserAccount, NoClaudeCredential, validated=False),
)
async def show_credential(caller: CallerDep, state: StateDep) -> CredentialView:
    """The stored credential's kind and last four characters (never the value)."""
    async with state.db.read() as session:
        summary = await CredentialService(session, state.credential_cipher).summary(_user(caller))
    return _view(summary, [])


@router.delete("/me/claude-credential", status_code=204, responses=_ME_ERRORS)
async def clear_credential(caller: CallerDep, who: WhoDep, state: StateDep) -> Response:
    """Forget the stored credential, here and in your running instance (Claude processes started
    with it there stop; the Claude pane starts again without it)."""
    user_id = _user(caller)
    async with state.db.transaction() as session:
        delivery = await CredentialService(session, state.credential_cipher).clear(user_id)
    who.record(AuditKind.CREDENTIAL_CLEARED, user_id, had_one=delivery is not None)
    if delivery is not None:
        await _deliver(state, user_id, delivery)
    return Response(status_code=204)


@router.get(
    "/instances/{instance_id}/claude",
    response_model=ClaudeSignIn,
    responses=error_responses(
        *CALLER_ERRORS, InstanceNotFound, InstanceNotRunning, AgentUnavailable, UnavailableError
    ),
)
async def claude_sign_in(instance_id: UUID, caller: CallerDep, state: StateDep) -> ClaudeSignIn:
    """Whether Claude Code is signed in on your running instance, and how. An instance that
    missed the latest credential change is brought up to date first."""
    agent = await owned_agent(state.agent_endpoints, caller.user_id, instance_id)
    pusher = _pusher(state)
    status = await pusher.status(agent)
    async with state.db.read() as session:
        delivery = await CredentialService(session, state.credential_cipher).delivery(agent.user_id)
    if delivery is not None and (status.revision or 0) < delivery.revision:
        status = await pusher.push(agent, delivery)
    return _sign_in(instance_id, status)


def _sign_in(instance_id: UUID, status: ClaudeStatus) -> ClaudeSignIn:
    return ClaudeSignIn(
        instance_id=instance_id,
        signed_in=status.signed_in,
        method=status.method,
        subscription=status.subscription,
        stored_credential=status.stored_credential,
    )


def _view(summary: CredentialSummary, delivered: list[UUID]) -> CredentialView:
    return CredentialView(
        kind=summary.kind,
        last_four=summary.last_four,
        updated_at=summary.updated_at,
        delivered_to=delivered,
    )
