"""``/me/audit``: the signed-in user's own audit log, a page at a time or exported as JSON lines.

Only the owner reads it here (someone else's cannot even be named); operators read anyone's
with ``claude-cloud-admin audit``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BeforeValidator

from claudecloud_common.contracts.audit import MAX_POSITION, AuditKind, AuditPage
from claudecloud_common.errors import UnavailableError

from ..deps import CALLER_ERRORS, Caller, CallerDep, StateDep
from ..errors import error_responses
from .errors import SignedInUsersOnly
from .service import AuditGateway

router = APIRouter(prefix="/me/audit", tags=["audit"])

_ERRORS = error_responses(*CALLER_ERRORS, SignedInUsersOnly, UnavailableError)


def get_audit_gateway(state: StateDep) -> AuditGateway:
    return AuditGateway(state.broker, rpc_timeout=state.settings.rpc_timeout_seconds)


AuditGatewayDep = Annotated[AuditGateway, Depends(get_audit_gateway)]
Kinds = Annotated[
    list[AuditKind] | None, Query(alias="kind", description="Only these kinds (repeat it)")
]


def _a_date_time(value: object) -> object:
    """The schema says an RFC 3339 date-time; pydantic would also take a bare number of seconds
    (``since=1``), which the schema does not allow."""
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("a date and time (RFC 3339), not a number")
    return value


Since = Annotated[
    datetime | None,
    BeforeValidator(_a_date_time),
    Query(description="Only what happened at or after this"),
]
Until = Annotated[
    datetime | None,
    BeforeValidator(_a_date_time),
    Query(description="Only what happened before this"),
]


def _owner(caller: Caller) -> UUID:
    if caller.user_id is None:
        raise SignedInUsersOnly("sign in as the user: the operator key has no audit log here")
    return caller.user_id


@router.get("", response_model=AuditPage, responses=_ERRORS)
async def my_audit(
    caller: CallerDep,
    audit: AuditGatewayDep,
    kind: Kinds = None,
    since: Since = None,
    until: Until = None,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_POSITION, description="next_before of the last page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AuditPage:
    """Your audit log, newest first: sign-ins, commands, terminal and chat sessions, file reads,
    clones, credential and webhook changes, with where each came from. Each record carries the
    hash of the one before it on your chain."""
    return await audit.page(
        _owner(caller), kinds=kind or [], since=since, until=until, before=before, limit=limit
    )


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}, **_ERRORS},
)
async def export_my_audit(
    caller: CallerDep,
    audit: AuditGatewayDep,
    kind: Kinds = None,
    since: Since = None,
    until: Until = None,
) -> StreamingResponse:
    """Your whole audit log (narrowed as asked) as JSON lines, one record a line, newest first."""
    owner = _owner(caller)
    records = audit.export(owner, kinds=kind or [], since=since, until=until)
    first = await anext(records, None)  # a service that does not answer fails before the 200

    async def lines() -> AsyncIterator[bytes]:
        if first is None:
            return
        yield first.model_dump_json().encode() + b"\n"
        async for record in records:
            yield record.model_dump_json().encode() + b"\n"

    headers = {
        "Content-Disposition": 'attachment; filename="claudecloud-audit.jsonl"',
        "Cache-Control": "no-store",
    }
    return StreamingResponse(lines(), media_type="application/x-ndjson", headers=headers)
