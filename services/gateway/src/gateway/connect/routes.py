"""``GET /connect.sh``: a shell script that connects the caller to their instance.

Every answer is a script, failures included: not signed in, no instance, paused, or a server
error each print why and what to do, and exit 1.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from pydantic import SecretStr

from claudecloud_common.contracts.instances import InstanceStatus, InstanceView
from claudecloud_common.contracts.netbird import GetDeviceKey
from claudecloud_common.errors import AppError
from claudecloud_common.logging import get_logger
from claudecloud_common.rpc import request as request_reply

from ..auth.errors import MissingCredentials
from ..deps import StateDep, authorize
from ..state import GatewayState
from ..workspace.waking import ASLEEP, ON_THE_WAY
from . import service as connect
from .errors import InvalidUserId

router = APIRouter(tags=["connect"])

log = get_logger(__name__)

_MEDIA_TYPE = "text/x-shellscript"
_FAILURES = {
    400: "A malformed ?user_id=, or an admin key without one",
    401: "Not signed in, or the session is over",
    403: "A signed-in user named someone else",
    404: "No instance yet",
    409: "The instance is not running (paused, starting, ...)",
    429: "Too many requests",
    500: "A server error",
    503: "The platform did not answer in time",
}


@router.get(
    "/connect.sh",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {_MEDIA_TYPE: {}}, "description": "The script that connects"},
        **{
            status: {"content": {_MEDIA_TYPE: {}}, "description": f"{why}: a script that exits 1"}
            for status, why in _FAILURES.items()
        },
    },
    # The query is read in the handler, not declared as a parameter: FastAPI would answer a
    # malformed one with a JSON 422, and every answer of this route must be a script.
    openapi_extra={
        "parameters": [
            {
                "name": "user_id",
                "in": "query",
                "required": False,
                "description": "Whose instance (admin key only)",
                "schema": {"type": "string", "format": "uuid"},
            }
        ]
    },
)
async def connect_script(request: Request, state: StateDep) -> PlainTextResponse:
    """The script for the caller's instance by provider (for Docker, ``docker exec -it
    claude-{id} tmux attach -t claude``); a paused or frozen instance is woken first and waited
    for. Bearer token or session cookie; ``?user_id=`` only with the admin key. Every failure
    is a script too: it says why and exits 1."""
    try:
        named = _user_id(request.query_params.get("user_id"))
        script, status = await _script_for(request, state, named)
    except AppError as exc:
        script, status = _refusal(exc, state.settings.base_url), exc.status_code
    except Exception:
        log.exception("connect.script_failed")
        script = connect.failure(
            "the server could not prepare your connection", "try again in a minute"
        )
        status = 500
    headers = {"Cache-Control": "no-store"}
    return PlainTextResponse(script, status_code=status, media_type=_MEDIA_TYPE, headers=headers)


async def _script_for(
    request: Request, state: GatewayState, user_id: UUID | None
) -> tuple[str, int]:
    caller = await authorize(request, state)
    owner = caller.acting_for(user_id)
    if owner is None:
        return connect.failure(
            "an admin key needs ?user_id= to say whose instance",
            "add ?user_id=<id> to the URL",
        ), 400
    live = await state.instances.list(owner, live_only=True)
    if not live:
        return connect.failure(
            "you have no instance yet", "create one with 'claude-cloud create'"
        ), 404
    view = live[0]
    if view.status in ASLEEP | ON_THE_WAY:  # woken (and waited for) like any access
        await state.waker.agent(view)
        view = await state.instances.get(view.id)
    status = 200 if view.status is InstanceStatus.RUNNING else 409
    device_key = await _device_key(state, view) if status == 200 else None
    return connect.for_instance(view, state.settings.base_url, device_key=device_key), status


async def _device_key(state: GatewayState, view: InstanceView) -> SecretStr | None:
    """For a Hetzner instance, a one-off key that joins the caller's device to its mesh."""
    if not view.capabilities.mesh:
        return None
    query = GetDeviceKey(instance_id=view.id, user_id=view.user_id)
    timeout = state.settings.rpc_timeout_seconds
    found = await request_reply(state.broker, query, timeout=timeout)
    return found.setup_key


def _user_id(raw: str | None) -> UUID | None:
    if raw is None:
        return None
    try:
        return UUID(raw)
    except ValueError:
        raise InvalidUserId(f"?user_id={raw[:64]!r} is not a user id") from None


def _refusal(exc: AppError, base_url: str) -> str:
    if exc.status_code == 401:
        reason = "you are not signed in" if isinstance(exc, MissingCredentials) else exc.detail
        return connect.failure(
            reason, f"sign in with 'claude-cloud login EMAIL' (or at {base_url}) and try again"
        )
    if isinstance(exc, InvalidUserId):
        return connect.failure(exc.detail, "pass the user's id (a UUID) or leave ?user_id= out")
    if exc.status_code == 429:
        return connect.failure(exc.detail, "wait a minute and try again")
    if exc.status_code == 503:
        return connect.failure("the platform is busy or restarting", "try again in a minute")
    return connect.failure(exc.detail, f"see {base_url} for your instance")
