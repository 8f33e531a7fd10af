"""``GET /connect.sh``: a shell script that connects the caller to their instance.

Every answer is a script, failures included: not signed in, no instance, paused, or a server
error each print why and what to do, and exit 1.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from claudecloud_common.contracts.instances import LIVE_STATUSES, InstanceStatus
from claudecloud_common.errors import AppError
from claudecloud_common.logging import get_logger

from ..auth.errors import MissingCredentials
from ..deps import authorize, get_instances, get_settings
from . import service as connect

router = APIRouter(tags=["connect"])

log = get_logger(__name__)

_MEDIA_TYPE = "text/x-shellscript"


@router.get(
    "/connect.sh",
    response_class=PlainTextResponse,
    responses={200: {"content": {_MEDIA_TYPE: {}}}},
)
async def connect_script(
    request: Request,
    user_id: Annotated[UUID | None, Query(description="Whose instance (admin key only)")] = None,
) -> PlainTextResponse:
    """The script for the caller's instance by provider (for Docker, ``docker exec -it
    claude-{id} tmux attach -t claude``). Bearer token or session cookie; ``?user_id=`` only
    with the admin key."""
    try:
        script, status = await _script_for(request, user_id)
    except AppError as exc:
        script, status = _refusal(exc, get_settings(request).base_url), exc.status_code
    except Exception:
        log.exception("connect.script_failed")
        script = connect.failure(
            "the server could not prepare your connection", "try again in a minute"
        )
        status = 500
    headers = {"Cache-Control": "no-store"}
    return PlainTextResponse(script, status_code=status, media_type=_MEDIA_TYPE, headers=headers)


async def _script_for(request: Request, user_id: UUID | None) -> tuple[str, int]:
    caller = await authorize(request)
    owner = caller.acting_for(user_id)
    settings = get_settings(request)
    if owner is None:
        return connect.failure(
            "an admin key needs ?user_id= to say whose instance",
            "add ?user_id=<id> to the URL",
        ), 400
    views = await get_instances(request).list(owner)
    live = [v for v in views if v.status in LIVE_STATUSES]
    if not live:
        return connect.failure(
            "you have no instance yet", "create one with 'claude-cloud create'"
        ), 404
    status = 200 if live[0].status is InstanceStatus.RUNNING else 409
    return connect.for_instance(live[0], settings.base_url), status


def _refusal(exc: AppError, base_url: str) -> str:
    if exc.status_code == 401:
        reason = "you are not signed in" if isinstance(exc, MissingCredentials) else exc.detail
        return connect.failure(
            reason, f"sign in with 'claude-cloud login EMAIL' (or at {base_url}) and try again"
        )
    if exc.status_code == 429:
        return connect.failure(exc.detail, "wait a minute and try again")
    if exc.status_code == 503:
        return connect.failure("the platform is busy or restarting", "try again in a minute")
    return connect.failure(exc.detail, f"see {base_url} for your instance")
