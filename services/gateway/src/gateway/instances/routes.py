"""The instance API: create, read, list, pause, wake, destroy, and a live event stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette.sse import EventSourceResponse

from claudecloud_common.contracts.activity import ActivityView
from claudecloud_common.contracts.instances import (
    DestroyInstance,
    InstanceDestroyed,
    InstanceStatus,
    InstanceView,
    PauseInstance,
    WakeInstance,
)
from claudecloud_common.errors import UnavailableError

from ..auth.errors import NotYours
from ..deps import CALLER_ERRORS, Caller, CallerDep, HubDep, InstancesDep
from ..errors import PayloadTooLarge, error_responses
from .errors import IllegalTransition, InstanceAlreadyExists, InstanceNotFound, PaymentRequired
from .service import Accepted

router = APIRouter(prefix="/instances", tags=["instances"])

_TERMINAL = {InstanceStatus.DESTROYED}
_ONE_INSTANCE = error_responses(*CALLER_ERRORS, InstanceNotFound, UnavailableError)
_TRANSITION = error_responses(*CALLER_ERRORS, InstanceNotFound, IllegalTransition, UnavailableError)
_WAKE = error_responses(
    *CALLER_ERRORS, InstanceNotFound, IllegalTransition, PaymentRequired, UnavailableError
)


class CreateInstanceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UUID | None = Field(
        default=None,
        description="Whose instance. A signed-in user's own (may be left out; anyone else's is "
        "refused); an operator must name the user.",
    )


class CommandAccepted(BaseModel):
    """The command is on the bus. ``status`` is the state the instance entered, or ``queued``
    when the provisioner has not answered yet (it will; follow ``/instances/{id}/events``)."""

    id: UUID
    user_id: UUID
    status: str


def _accepted(result: Accepted, response: Response) -> CommandAccepted:
    response.headers["Location"] = f"/instances/{result.instance_id}"
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return CommandAccepted(id=result.instance_id, user_id=result.user_id, status=result.status)


def _correlation(request: Request) -> str:
    """The request's correlation id, as the ``CorrelationId`` middleware bounded it."""
    correlation_id: str | None = getattr(request.state, "correlation_id", None)
    return correlation_id or str(uuid4())


async def _owned(instances: InstancesDep, caller: Caller, instance_id: UUID) -> InstanceView:
    """The instance if the caller may act on it; someone else's is indistinguishable from none."""
    view = await instances.get(instance_id)
    if not caller.is_admin and view.user_id != caller.user_id:
        raise InstanceNotFound(f"no instance with id {instance_id}")
    return view


@router.post(
    "",
    status_code=202,
    response_model=CommandAccepted,
    responses=error_responses(
        *CALLER_ERRORS,
        NotYours,
        InstanceAlreadyExists,
        PaymentRequired,
        PayloadTooLarge,
        UnavailableError,
    ),
)
async def create_instance(
    request: Request,
    response: Response,
    caller: CallerDep,
    instances: InstancesDep,
    body: CreateInstanceBody | None = None,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> CommandAccepted:
    """Ask for a new instance. 202 with ``Location``; 409 names the live instance the user has.

    The same ``Idempotency-Key`` again returns the same instance and creates nothing new.
    """
    owner = caller.acting_for(body.user_id if body else None)
    if owner is None:
        missing = {"loc": ("body", "user_id"), "msg": "Field required", "type": "missing"}
        raise RequestValidationError([missing])
    result = await instances.create(
        owner, idempotency_key=idempotency_key, correlation_id=_correlation(request)
    )
    return _accepted(result, response)


@router.get(
    "",
    response_model=list[InstanceView],
    responses=error_responses(*CALLER_ERRORS, UnavailableError),
)
async def list_instances(
    caller: CallerDep, instances: InstancesDep, user_id: UUID | None = None
) -> list[InstanceView]:
    """Instances, newest first; ``user_id`` narrows to one user's. A signed-in user sees only
    their own."""
    if not caller.is_admin:
        if user_id is not None and user_id != caller.user_id:
            return []  # someone else's instances are indistinguishable from none
        user_id = caller.user_id
    return await instances.list(user_id)


@router.get("/{instance_id}", response_model=InstanceView, responses=_ONE_INSTANCE)
async def get_instance(
    instance_id: UUID, caller: CallerDep, instances: InstancesDep
) -> InstanceView:
    """One instance and its current status."""
    return await _owned(instances, caller, instance_id)


@router.get("/{instance_id}/activity", response_model=ActivityView, responses=_ONE_INSTANCE)
async def instance_activity(
    instance_id: UUID, caller: CallerDep, instances: InstancesDep
) -> ActivityView:
    """Why it is still running, or why it stopped: the idle deadline (real activity moves it:
    typing, a running or just-ended chat turn), when the longest run without human input ends,
    its health condition (``agent_unreachable``, ``oom_killed``, ``restarting``) and the latest
    decisions with their reasons."""
    return await instances.activity(await _owned(instances, caller, instance_id))


@router.post(
    "/{instance_id}/pause", status_code=202, response_model=CommandAccepted, responses=_TRANSITION
)
async def pause_instance(
    instance_id: UUID,
    request: Request,
    response: Response,
    caller: CallerDep,
    instances: InstancesDep,
) -> CommandAccepted:
    """Stop a running instance's compute; its data is kept. 409 unless it is running."""
    view = await _owned(instances, caller, instance_id)
    command = PauseInstance(instance_id=instance_id, correlation_id=_correlation(request))
    return _accepted(await instances.transition(command, view.user_id), response)


@router.post(
    "/{instance_id}/wake", status_code=202, response_model=CommandAccepted, responses=_WAKE
)
async def wake_instance(
    instance_id: UUID,
    request: Request,
    response: Response,
    caller: CallerDep,
    instances: InstancesDep,
) -> CommandAccepted:
    """Start a paused instance again. 409 unless it is paused."""
    view = await _owned(instances, caller, instance_id)
    command = WakeInstance(instance_id=instance_id, correlation_id=_correlation(request))
    return _accepted(await instances.transition(command, view.user_id), response)


@router.delete(
    "/{instance_id}", status_code=202, response_model=CommandAccepted, responses=_TRANSITION
)
async def destroy_instance(
    instance_id: UUID,
    request: Request,
    response: Response,
    caller: CallerDep,
    instances: InstancesDep,
    purge: Annotated[bool, Query(description="Also delete the data volume")] = False,
) -> CommandAccepted:
    """Remove an instance's compute; its data volume is kept unless ``purge=true``."""
    view = await _owned(instances, caller, instance_id)
    command = DestroyInstance(
        instance_id=instance_id, purge=purge, correlation_id=_correlation(request)
    )
    return _accepted(await instances.transition(command, view.user_id), response)


@router.get(
    "/{instance_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **_ONE_INSTANCE},
)
async def instance_events(
    instance_id: UUID, request: Request, caller: CallerDep, instances: InstancesDep, hub: HubDep
) -> EventSourceResponse:
    """Server-sent events: the current state first (``snapshot``), then each lifecycle event as
    it happens, until the instance is destroyed or the client goes away."""
    await _owned(instances, caller, instance_id)  # 404 before the stream opens

    async def stream() -> AsyncIterator[dict[str, str]]:
        async with hub.follow(instance_id) as queue:
            view = await instances.get(instance_id)
            yield {"event": "snapshot", "data": view.model_dump_json()}
            if view.status in _TERMINAL:
                return
            while not await request.is_disconnected():
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=15)
                except TimeoutError:
                    continue
                yield {"event": event.type, "data": event.model_dump_json()}
                if isinstance(event, InstanceDestroyed):
                    return

    return EventSourceResponse(stream(), ping=15, headers={"Cache-Control": "no-store"}, sep="\n")
