"""``/me/webhooks``: the signed-in user's endpoints for their workstation's lifecycle events.

A new endpoint's signing secret is answered once (201), as is a rotated one; deliveries are
signed ``ClaudeCloud-Signature: t=<unix>,v1=<HMAC-SHA256(secret, "<t>.<body>")>`` (Stripe's
scheme), carry their event's id (the same on every try), and are retried with backoff. Someone
else's endpoint looks missing (404).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from claudecloud_common.contracts.audit import AuditKind
from claudecloud_common.contracts.webhooks import (
    MAX_URL_CHARS,
    DeliveryList,
    EndpointCreated,
    EndpointList,
    TestSent,
)
from claudecloud_common.errors import UnavailableError

from ..audit.who import WhoDep
from ..deps import CALLER_ERRORS, Caller, CallerDep, StateDep
from ..errors import PayloadTooLarge, error_responses
from .errors import (
    AddressRefused,
    EndpointNotFound,
    InvalidEndpointUrl,
    SignedInUsersOnly,
    TooManyEndpoints,
    UnknownEventType,
)
from .service import WebhooksGateway, without_query

router = APIRouter(prefix="/me/webhooks", tags=["webhooks"])

_ERRORS = (*CALLER_ERRORS, SignedInUsersOnly, UnavailableError)
_ONE = error_responses(*_ERRORS, EndpointNotFound)


def get_webhooks(state: StateDep) -> WebhooksGateway:
    return WebhooksGateway(state.broker, rpc_timeout=state.settings.rpc_timeout_seconds)


WebhooksDep = Annotated[WebhooksGateway, Depends(get_webhooks)]


class EndpointBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        max_length=MAX_URL_CHARS,
        examples=["https://hooks.example.com/claudecloud"],
        description="Where deliveries are POSTed (https in production; no user or password)",
    )
    events: list[str] = Field(
        min_length=1,
        max_length=16,
        examples=[["instance.running", "instance.failed"]],
        description="instance.running, instance.paused, instance.frozen, instance.failed, "
        "instance.idle_warning, instance.budget_* (every budget event), or * (all)",
    )


def _owner(caller: Caller) -> UUID:
    if caller.user_id is None:
        raise SignedInUsersOnly("sign in as the user: webhooks belong to a user")
    return caller.user_id


@router.post(
    "",
    status_code=201,
    response_model=EndpointCreated,
    responses=error_responses(
        *_ERRORS,
        InvalidEndpointUrl,
        AddressRefused,
        UnknownEventType,
        TooManyEndpoints,
        PayloadTooLarge,
    ),
)
async def create_endpoint(
    body: EndpointBody, caller: CallerDep, who: WhoDep, webhooks: WebhooksDep, response: Response
) -> EndpointCreated:
    """Register an endpoint for the events listed. The answer holds its signing secret: this is
    the only time it is shown (rotate it to get a new one)."""
    owner = _owner(caller)
    created = await webhooks.create(owner, body.url, body.events)
    who.record(
        AuditKind.WEBHOOK_CREATED,
        owner,
        endpoint_id=str(created.id),
        url=without_query(created.url),  # a receiver's token often rides in the query
        events=",".join(created.events),
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Location"] = f"/me/webhooks/{created.id}"
    return created


@router.get("", response_model=EndpointList, responses=error_responses(*_ERRORS))
async def list_endpoints(caller: CallerDep, webhooks: WebhooksDep) -> EndpointList:
    """Your endpoints (never their secrets), disabled ones with why."""
    return await webhooks.list(_owner(caller))


@router.delete("/{endpoint_id}", status_code=204, responses=_ONE)
async def delete_endpoint(
    endpoint_id: UUID, caller: CallerDep, who: WhoDep, webhooks: WebhooksDep
) -> Response:
    """Delete the endpoint and its delivery log; nothing more is sent to it."""
    owner = _owner(caller)
    await webhooks.delete(owner, endpoint_id)
    who.record(AuditKind.WEBHOOK_DELETED, owner, endpoint_id=str(endpoint_id))
    return Response(status_code=204)


@router.post("/{endpoint_id}/test", status_code=202, response_model=TestSent, responses=_ONE)
async def test_endpoint(endpoint_id: UUID, caller: CallerDep, webhooks: WebhooksDep) -> TestSent:
    """Send the endpoint a ``webhook.test`` event now; its delivery log says how it went."""
    return await webhooks.test(_owner(caller), endpoint_id)


@router.post("/{endpoint_id}/rotate", response_model=EndpointCreated, responses=_ONE)
async def rotate_secret(
    endpoint_id: UUID, caller: CallerDep, who: WhoDep, webhooks: WebhooksDep, response: Response
) -> EndpointCreated:
    """A new signing secret, shown this once. Until ``previous_secret_expires_at`` deliveries
    are signed with both (two ``v1=`` in the header), so you can switch without missing one."""
    owner = _owner(caller)
    rotated = await webhooks.rotate(owner, endpoint_id)
    who.record(AuditKind.WEBHOOK_ROTATED, owner, endpoint_id=str(endpoint_id))
    response.headers["Cache-Control"] = "no-store"
    return rotated


@router.get("/{endpoint_id}/deliveries", response_model=DeliveryList, responses=_ONE)
async def endpoint_deliveries(
    endpoint_id: UUID,
    caller: CallerDep,
    webhooks: WebhooksDep,
    before: Annotated[datetime | None, Query(description="next_before of the last page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveryList:
    """The endpoint's deliveries, newest first: each event, its tries, the last answer or
    error, and when the next try is due."""
    return await webhooks.deliveries(_owner(caller), endpoint_id, before=before, limit=limit)
