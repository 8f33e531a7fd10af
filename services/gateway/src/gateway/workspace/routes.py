"""Working inside an instance through the gateway: tickets, the terminal and chat WebSockets, and
the files and projects calls, all proxied to the instance's agent.

HTTP calls authenticate as every API call does. A WebSocket upgrade authenticates with a
single-use ticket (``?ticket=``, what browsers use), the session cookie, or a bearer header (CLIs).
A ticket or cookie must come with an allowed ``Origin``; a bearer client may send none. Refusals
happen after the upgrade, as a close code (4000 + the HTTP status: 4401, 4403, 4404, 4409, 4502)
with a reason, since a browser cannot read an upgrade's HTTP status.
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
from websockets.asyncio.client import ClientConnection

from claudecloud_common.errors import AppError, UnavailableError
from claudecloud_common.telemetry import get_tracer

from ..auth.errors import NotYours, OriginRefused
from ..auth.identify import identify
from ..deps import CALLER_ERRORS, AgentHttpDep, CallerDep, EndpointsDep, SessionDep, SettingsDep
from ..errors import PayloadTooLarge, error_responses
from ..instances.errors import InstanceNotFound
from ..state import GatewayState, gateway_state
from .agents import (
    Agent,
    AgentEndpoints,
    AgentHttp,
    BridgeLimits,
    body_of,
    bridge,
    close_client,
    open_upstream,
    response_headers,
)
from .errors import AgentUnavailable, InstanceNotRunning
from .service import TicketService

router = APIRouter(prefix="/instances", tags=["workspace"])
TRACER = get_tracer(__name__)

_TICKET_ERRORS = error_responses(
    *CALLER_ERRORS, InstanceNotFound, InstanceNotRunning, UnavailableError
)
_PROXY_ERRORS = error_responses(
    *CALLER_ERRORS, InstanceNotFound, InstanceNotRunning, AgentUnavailable, UnavailableError
)
"""The gateway's own refusals; past them, the agent's answer (and its errors) passes through."""
_PROXY_POST_ERRORS = error_responses(
    *CALLER_ERRORS,
    InstanceNotFound,
    InstanceNotRunning,
    AgentUnavailable,
    PayloadTooLarge,
    UnavailableError,
)


class Ticket(BaseModel):
    """Open ``/instances/{id}/terminal?ticket=...`` (or ``/chat``) with it, once, before it
    expires."""

    ticket: str
    expires_at: datetime
    expires_in: float = Field(description="Seconds it stays valid")


class CloneBody(BaseModel):
    url: str = Field(min_length=1, max_length=2048)
    name: str | None = Field(default=None, max_length=100)


PathQuery = Annotated[str, Query(max_length=4096, description="Relative to /claude-data")]


async def owned_agent(endpoints: AgentEndpoints, user_id: UUID | None, instance_id: UUID) -> Agent:
    """The caller's own running instance's agent; someone else's is indistinguishable from none."""
    endpoint = await endpoints.lookup(instance_id)
    if user_id is None or endpoint.user_id != user_id:
        raise InstanceNotFound(f"no instance with id {instance_id}")
    return await endpoints.running(instance_id)


@router.post(
    "/{instance_id}/tickets", response_model=Ticket, status_code=201, responses=_TICKET_ERRORS
)
async def issue_ticket(
    instance_id: UUID,
    response: Response,
    caller: CallerDep,
    endpoints: EndpointsDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Ticket:
    """A single-use ticket (about 30 s) to open this instance's terminal or chat WebSocket."""
    await owned_agent(endpoints, caller.user_id, instance_id)
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
    endpoints: AgentEndpoints,
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
        agent = await owned_agent(endpoints, caller_id, instance_id)
        upstream = await http.send(agent, method, path, **kwargs)
        if upstream.status_code == 401:  # a stale secret (the machine was made anew): ask again
            await upstream.aclose()
            endpoints.forget(instance_id)
            agent = await owned_agent(endpoints, caller_id, instance_id)
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
    endpoints: EndpointsDep,
    http: AgentHttpDep,
    path: PathQuery = ".",
) -> StreamingResponse:
    """A folder's entries in the instance's ``/claude-data``."""
    return await _forward(
        endpoints, http, caller.user_id, instance_id, "GET", "/files", params={"path": path}
    )


@router.get("/{instance_id}/files/read", responses=_PROXY_ERRORS)
async def read_file(
    instance_id: UUID,
    caller: CallerDep,
    endpoints: EndpointsDep,
    http: AgentHttpDep,
    path: PathQuery,
) -> StreamingResponse:
    """A text file's content (at most 1 MB; ``truncated`` says when it was cut)."""
    return await _forward(
        endpoints, http, caller.user_id, instance_id, "GET", "/files/read", params={"path": path}
    )


@router.get("/{instance_id}/projects", responses=_PROXY_ERRORS)
async def list_projects(
    instance_id: UUID, caller: CallerDep, endpoints: EndpointsDep, http: AgentHttpDep
) -> StreamingResponse:
    """Git repositories in ``/claude-data`` (up to three levels deep), each with its remote."""
    return await _forward(endpoints, http, caller.user_id, instance_id, "GET", "/projects")


@router.post("/{instance_id}/projects/clone", responses=_PROXY_POST_ERRORS)
async def clone_project(
    instance_id: UUID,
    body: CloneBody,
    caller: CallerDep,
    endpoints: EndpointsDep,
    http: AgentHttpDep,
    settings: SettingsDep,
) -> StreamingResponse:
    """Clone a repository (http, https, ssh or git URL) into ``/claude-data``."""
    return await _forward(
        endpoints,
        http,
        caller.user_id,
        instance_id,
        "POST",
        "/projects/clone",
        json=body.model_dump(exclude_none=True),
        timeout=settings.agent_clone_timeout_seconds,
    )


# WebSockets, bridged


@router.websocket("/{instance_id}/terminal")
async def terminal(websocket: WebSocket, instance_id: UUID) -> None:
    """The instance's terminal (ttyd's protocol), proxied to its agent."""
    await _proxy_socket(websocket, instance_id, "/terminal")


@router.websocket("/{instance_id}/chat")
async def chat(websocket: WebSocket, instance_id: UUID, cwd: str = ".") -> None:
    """Chat with Claude on the instance (JSON events), proxied to its agent."""
    await _proxy_socket(websocket, instance_id, "/chat?" + urlencode({"cwd": cwd}))


async def _proxy_socket(websocket: WebSocket, instance_id: UUID, path: str) -> None:
    state = gateway_state(websocket)
    settings, endpoints = state.settings, state.agent_endpoints
    offered: list[str] = list(websocket.scope.get("subprotocols") or [])
    limits = BridgeLimits(settings.ws_max_message_bytes, settings.ws_ping_interval_seconds)
    name = f"proxy.{path.strip('/').split('?')[0]}"  # proxy.terminal, proxy.chat: the session
    with TRACER.start_as_current_span(name, attributes={"instance.id": str(instance_id)}) as span:
        try:
            user_id = await _socket_user(websocket, state, instance_id)
            span.set_attribute("user.id", str(user_id))
            agent = await owned_agent(endpoints, user_id, instance_id)  # whose, before what state
            upstream = await _open(endpoints, agent, path, offered, limits)
        except AppError as refused:
            span.record_exception(refused)
            span.set_status(StatusCode.ERROR, refused.detail)
            await websocket.accept(subprotocol=offered[0] if offered else None)
            await close_client(websocket, 4000 + refused.status_code, refused.detail)
            return
        await websocket.accept(subprotocol=upstream.subprotocol)
        await bridge(websocket, upstream, limits)


async def _open(
    endpoints: AgentEndpoints, agent: Agent, path: str, offered: list[str], limits: BridgeLimits
) -> ClientConnection:
    try:
        return await open_upstream(agent, path, offered, limits)
    except AgentUnavailable:
        endpoints.forget(agent.instance_id)  # paused or moved since we looked? Say which.
        agent = await endpoints.running(agent.instance_id)
        return await open_upstream(agent, path, offered, limits)


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
    caller = await identify(websocket)
    if caller.user_id is None:
        raise NotYours("an operator key does not open an instance's terminal or chat")
    return caller.user_id
