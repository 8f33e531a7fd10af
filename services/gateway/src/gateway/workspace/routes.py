"""Working inside an instance through the gateway: tickets, the terminal and chat WebSockets, and
the files and projects calls, all proxied to the instance's agent.

HTTP calls authenticate as every API call does. A WebSocket upgrade authenticates with a
single-use ticket (``?ticket=``, what browsers use), the session cookie, or a bearer header (CLIs).
A ticket or cookie must come with an allowed ``Origin``; a bearer client may send none. Refusals
happen after the upgrade, as a close code (4000 + the HTTP status: 4401, 4402, 4403, 4404, 4409,
4502, 4504) with a reason, since a browser cannot read an upgrade's HTTP status. A paused or
frozen instance is woken by any of these (where billing allows) and waited for: the sockets say
so in a status line, and outlive the instance's later pauses (see :mod:`.sessions`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Query, Response, WebSocket
from fastapi.responses import StreamingResponse
from opentelemetry.trace import StatusCode
from pydantic import BaseModel, Field
from starlette.websockets import WebSocketState

from claudecloud_agentapi import CloneRequest
from claudecloud_common.contracts.audit import AuditKind
from claudecloud_common.contracts.instances import InstanceStatus
from claudecloud_common.errors import AppError, UnavailableError
from claudecloud_common.telemetry import get_tracer

from ..audit.acts import socket_session, without_credentials
from ..audit.who import WhoDep, who_is
from ..auth.errors import NotYours, OriginRefused
from ..auth.identify import Caller, identify
from ..billing.errors import BudgetReached
from ..deps import (
    CALLER_ERRORS,
    AgentHttpDep,
    CallerDep,
    InstancesDep,
    SessionDep,
    SettingsDep,
    StateDep,
    WakerDep,
)
from ..errors import PayloadTooLarge, error_responses
from ..instances.errors import InstanceNotFound, PaymentRequired
from ..ownership import owned_workstation
from ..state import GatewayState
from .agents import AgentHttp, BridgeLimits, body_of, close_client, response_headers
from .errors import AgentUnavailable, InstanceNotRunning, WakeTimedOut
from .service import TicketService
from .sessions import Session, Socket
from .waking import ASLEEP, ON_THE_WAY, Waker

router = APIRouter(prefix="/instances", tags=["workspace"])
WORKABLE = frozenset({InstanceStatus.RUNNING}) | ASLEEP | ON_THE_WAY
"""What a ticket may be had for: running, or on its way there once the socket wakes it."""
TRACER = get_tracer(__name__)

_TICKET_ERRORS = error_responses(
    *CALLER_ERRORS, InstanceNotFound, InstanceNotRunning, UnavailableError
)
_PROXY_ERRORS = error_responses(
    *CALLER_ERRORS,
    InstanceNotFound,
    InstanceNotRunning,
    PaymentRequired,
    BudgetReached,
    AgentUnavailable,
    WakeTimedOut,
    UnavailableError,
)
"""The gateway's own refusals; past them, the agent's answer (and its errors) passes through."""
_PROXY_POST_ERRORS = error_responses(
    *CALLER_ERRORS,
    InstanceNotFound,
    InstanceNotRunning,
    PaymentRequired,
    BudgetReached,
    AgentUnavailable,
    WakeTimedOut,
    PayloadTooLarge,
    UnavailableError,
)


class Ticket(BaseModel):
    """Open ``/instances/{id}/terminal?ticket=...`` (or ``/chat``) with it, once, before it
    expires."""

    ticket: str
    expires_at: datetime
    expires_in: float = Field(description="Seconds it stays valid")


PathQuery = Annotated[str, Query(max_length=4096, description="Relative to /claude-data")]


@router.post(
    "/{instance_id}/tickets", response_model=Ticket, status_code=201, responses=_TICKET_ERRORS
)
async def issue_ticket(
    instance_id: UUID,
    response: Response,
    caller: CallerDep,
    instances: InstancesDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Ticket:
    """A single-use ticket (about 30 s) to open this instance's terminal or chat WebSocket (the
    socket wakes a paused or frozen instance)."""
    view = await owned_workstation(instances, caller.user_id, instance_id)
    if view.status not in WORKABLE:
        raise InstanceNotRunning(
            f"instance {instance_id} is {view.status.value}: nothing to open",
            status=view.status.value,
        )
    assert caller.user_id is not None
    issued = await TicketService(session, settings.ticket_ttl_seconds).issue(
        caller.user_id, instance_id
    )
    response.headers["Cache-Control"] = "no-store"
    return Ticket(
        ticket=issued.ticket,
        expires_at=issued.expires_at,
        expires_in=settings.ticket_ttl_seconds,
    )


def _span_attributes(user_id: UUID | None, instance_id: UUID) -> dict[str, str]:
    found = {"instance.id": str(instance_id)}
    if user_id is not None:
        found["user.id"] = str(user_id)
    return found


# HTTP, streamed through


async def _forward(
    waker: Waker,
    http: AgentHttp,
    caller_id: UUID | None,
    instance_id: UUID,
    method: str,
    path: str,
    **kwargs: Any,
) -> StreamingResponse:
    with TRACER.start_as_current_span(
        f"proxy.{path.strip('/').split('/')[0]}",
        attributes=_span_attributes(caller_id, instance_id),
    ) as span:
        view = await owned_workstation(waker.instances, caller_id, instance_id)
        agent = await waker.agent(view)  # a paused or frozen one is woken first
        upstream = await http.send(agent, method, path, **kwargs)
        if upstream.status_code == 401:  # a stale secret (the machine was made anew): ask again
            await upstream.aclose()
            waker.endpoints.forget(instance_id)
            agent = await waker.agent(view)
            upstream = await http.send(agent, method, path, **kwargs)
            if upstream.status_code == 401:
                await upstream.aclose()
                raise AgentUnavailable("the instance's agent did not accept the gateway")
        span.set_attribute("http.response.status_code", upstream.status_code)
    return StreamingResponse(
        body_of(upstream), status_code=upstream.status_code, headers=response_headers(upstream)
    )


@router.get("/{instance_id}/files", responses=_PROXY_ERRORS)
async def list_files(
    instance_id: UUID,
    caller: CallerDep,
    waker: WakerDep,
    http: AgentHttpDep,
    path: PathQuery = ".",
) -> StreamingResponse:
    """A folder's entries in the instance's ``/claude-data``."""
    return await _forward(
        waker, http, caller.user_id, instance_id, "GET", "/files", params={"path": path}
    )


@router.get("/{instance_id}/files/read", responses=_PROXY_ERRORS)
async def read_file(
    instance_id: UUID,
    caller: CallerDep,
    who: WhoDep,
    waker: WakerDep,
    http: AgentHttpDep,
    path: PathQuery,
) -> StreamingResponse:
    """A text file's content (at most 1 MB; ``truncated`` says when it was cut)."""
    read = await _forward(
        waker, http, caller.user_id, instance_id, "GET", "/files/read", params={"path": path}
    )
    who.record(
        AuditKind.FILE_READ,
        caller.user_id,
        instance_id=instance_id,
        path=path,
        status=read.status_code,
    )
    return read


@router.get("/{instance_id}/projects", responses=_PROXY_ERRORS)
async def list_projects(
    instance_id: UUID, caller: CallerDep, waker: WakerDep, http: AgentHttpDep
) -> StreamingResponse:
    """Git repositories in ``/claude-data`` (up to three levels deep), each with its remote."""
    return await _forward(waker, http, caller.user_id, instance_id, "GET", "/projects")


@router.get("/{instance_id}/chat/history", responses=_PROXY_ERRORS)
async def chat_history(
    instance_id: UUID,
    caller: CallerDep,
    waker: WakerDep,
    http: AgentHttpDep,
    cwd: PathQuery = ".",
) -> StreamingResponse:
    """The previous conversation with Claude in ``cwd`` (the one the chat continues): the latest
    messages, from Claude's own transcripts on the instance."""
    return await _forward(
        waker, http, caller.user_id, instance_id, "GET", "/chat/history", params={"cwd": cwd}
    )


@router.post("/{instance_id}/projects/clone", responses=_PROXY_POST_ERRORS)
async def clone_project(
    instance_id: UUID,
    body: CloneRequest,
    caller: CallerDep,
    who: WhoDep,
    waker: WakerDep,
    http: AgentHttpDep,
    settings: SettingsDep,
) -> StreamingResponse:
    """Clone a repository (http, https, ssh or git URL) into ``/claude-data``."""
    cloning = await _forward(
        waker,
        http,
        caller.user_id,
        instance_id,
        "POST",
        "/projects/clone",
        json=body.model_dump(exclude_none=True),
        timeout=settings.agent_clone_timeout_seconds,
    )
    who.record(
        AuditKind.PROJECT_CLONED,
        caller.user_id,
        instance_id=instance_id,
        url=without_credentials(body.url),
        status=cloning.status_code,
    )
    return cloning


# WebSockets, bridged


@router.websocket("/{instance_id}/terminal")
async def terminal(websocket: WebSocket, instance_id: UUID, state: StateDep) -> None:
    """The instance's terminal (ttyd's protocol), proxied to its agent."""
    await _proxy_socket(websocket, state, instance_id, Socket("/terminal", terminal=True))


@router.websocket("/{instance_id}/chat")
async def chat(websocket: WebSocket, instance_id: UUID, state: StateDep, cwd: str = ".") -> None:
    """Chat with Claude on the instance (JSON events), proxied to its agent."""
    path = "/chat?" + urlencode({"cwd": cwd})
    await _proxy_socket(websocket, state, instance_id, Socket(path, terminal=False))


async def _proxy_socket(
    websocket: WebSocket, state: GatewayState, instance_id: UUID, socket: Socket
) -> None:
    settings = state.settings
    limits = BridgeLimits(settings.ws_max_message_bytes, settings.ws_ping_interval_seconds)
    name = f"proxy.{socket.path.strip('/').split('?')[0]}"  # proxy.terminal, proxy.chat
    with TRACER.start_as_current_span(name, attributes={"instance.id": str(instance_id)}) as span:
        try:
            user_id = await _socket_user(websocket, state, instance_id)
            span.set_attribute("user.id", str(user_id))
            view = await owned_workstation(state.instances, user_id, instance_id)
            if not socket.terminal:  # a chat turn spends Claude: not past a hard-stop budget
                await state.billing.refuse_if_budget_reached(user_id)
            who = who_is(websocket, Caller(is_admin=False, user_id=user_id), state.audit, settings)
            async with socket_session(who, user_id, instance_id, terminal=socket.terminal):
                await Session(websocket, state.waker, view, socket, limits).serve()
        except AppError as refused:
            span.record_exception(refused)
            span.set_status(StatusCode.ERROR, refused.detail)
            if websocket.application_state is WebSocketState.CONNECTING:
                offered = list(websocket.scope.get("subprotocols") or [])
                await websocket.accept(subprotocol=offered[0] if offered else None)
            await close_client(websocket, 4000 + refused.status_code, refused.detail)


async def _socket_user(websocket: WebSocket, state: GatewayState, instance_id: UUID) -> UUID:
    """Who opens this WebSocket: a ticket (browsers), else :func:`identify` as for every call."""
    ticket = websocket.query_params.get("ticket")
    if ticket:
        origin = websocket.headers.get("origin")
        if origin is None or origin.rstrip("/") not in state.settings.allowed_origins:
            raise OriginRefused("a ticket is only accepted from the dashboard's own pages")
        async with state.db.transaction() as session:
            return await TicketService(session, state.settings.ticket_ttl_seconds).redeem(
                ticket, instance_id
            )
    caller = await identify(websocket, state)
    if caller.user_id is None:
        raise NotYours("an operator key does not open an instance's terminal or chat")
    return caller.user_id
