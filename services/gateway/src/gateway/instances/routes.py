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
    LeftOff,
    PauseInstance,
    WakeInstance,
)
from claudecloud_common.errors import UnavailableError

from ..audit.acts import commanded
from ..audit.who import WhoDep
from ..auth.errors import NotYours
from ..billing.errors import BudgetReached
from ..deps import CALLER_ERRORS, CallerDep, HubDep, InstancesDep, SettingsDep
from ..errors import PayloadTooLarge, error_responses
from ..ownership import owned_instance, owned_instances
from .errors import IllegalTransition, InstanceAlreadyExists, InstanceNotFound, PaymentRequired
from .service import Accepted

router = APIRouter(prefix="/instances", tags=["instances"])

_TERMINAL = {InstanceStatus.DESTROYED}
_ONE_INSTANCE = error_responses(*CALLER_ERRORS, InstanceNotFound, UnavailableError)
_TRANSITION = error_responses(*CALLER_ERRORS, InstanceNotFound, IllegalTransition, UnavailableError)
_WAKE = error_responses(
    *CALLER_ERRORS,
    InstanceNotFound,
    IllegalTransition,
    PaymentRequired,
    BudgetReached,
    UnavailableError,
)


class CreateInstanceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UUID | None = Field(
        default=None,
        description="Whose instance. A signed-in user's own (may be left out; anyone else's is "
        "refused); an operator must name the user.",
    )


class PauseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep_memory: bool | None = Field(
        default=None,
        description="true: freeze it (memory and every process kept; waking takes "
        "milliseconds) where its provider can; false: stop it (only the files are kept, after "
        "a checkpoint). Left out: the platform's default (GATEWAY_PAUSE_KEEPS_MEMORY).",
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


@router.post(
    "",
    status_code=202,
    response_model=CommandAccepted,
    responses=error_responses(
        *CALLER_ERRORS,
        NotYours,
        InstanceAlreadyExists,
        PaymentRequired,
        BudgetReached,
        PayloadTooLarge,
        UnavailableError,
    ),
)
async def create_instance(
    request: Request,
    response: Response,
    caller: CallerDep,
    who: WhoDep,
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
    sending = instances.create(
        owner, idempotency_key=idempotency_key, correlation_id=_correlation(request)
    )
    return _accepted(await commanded(who, "create", owner, None, sending), response)


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
    return await owned_instances(instances, caller, user_id)


@router.get("/{instance_id}", response_model=InstanceView, responses=_ONE_INSTANCE)
async def get_instance(
    instance_id: UUID, caller: CallerDep, instances: InstancesDep
) -> InstanceView:
    """One instance and its current status."""
    return await owned_instance(instances, caller, instance_id)


@router.get("/{instance_id}/activity", response_model=ActivityView, responses=_ONE_INSTANCE)
async def instance_activity(
    instance_id: UUID, caller: CallerDep, instances: InstancesDep
) -> ActivityView:
    """Why it is still running, or why it stopped: the idle deadline (real activity moves it:
    typing, a running or just-ended chat turn), when the longest run without human input ends,
    its health condition (``agent_unreachable``, ``oom_killed``, ``restarting``) and the latest
    decisions with their reasons."""
    return await instances.activity(await owned_instance(instances, caller, instance_id))


@router.get("/{instance_id}/checkpoint", response_model=LeftOff, responses=_ONE_INSTANCE)
async def instance_left_off(
    instance_id: UUID, caller: CallerDep, instances: InstancesDep
) -> LeftOff:
    """Where it left off: when and why it paused, and what the checkpoint before its latest
    stop saved (each dirty repository's work on a ``claudecloud/wip/...`` branch with the files
    it changed, both panes' scrollback, Claude's last prompt), or why there is none."""
    return await instances.left_off(await owned_instance(instances, caller, instance_id))


@router.post(
    "/{instance_id}/pause", status_code=202, response_model=CommandAccepted, responses=_TRANSITION
)
async def pause_instance(
    instance_id: UUID,
    request: Request,
    response: Response,
    caller: CallerDep,
    who: WhoDep,
    instances: InstancesDep,
    settings: SettingsDep,
    body: PauseBody | None = None,
) -> CommandAccepted:
    """Pause a running instance: freeze it (``keep_memory``: every process kept, ``frozen``)
    or stop it (``paused``: files kept). A frozen one can be stopped too. 409 otherwise."""
    view = await owned_instance(instances, caller, instance_id)
    keep = body.keep_memory if body is not None and body.keep_memory is not None else None
    command = PauseInstance(
        instance_id=instance_id,
        keep_memory=settings.pause_keeps_memory if keep is None else keep,
        correlation_id=_correlation(request),
    )
    sending = instances.transition(command, view.user_id)
    keep = command.keep_memory
    result = await commanded(who, "pause", view.user_id, instance_id, sending, keep_memory=keep)
    return _accepted(result, response)


@router.post(
    "/{instance_id}/wake", status_code=202, response_model=CommandAccepted, responses=_WAKE
)
async def wake_instance(
    instance_id: UUID,
    request: Request,
    response: Response,
    caller: CallerDep,
    who: WhoDep,
    instances: InstancesDep,
) -> CommandAccepted:
    """Start a paused instance again, or thaw a frozen one. 409 unless it is either."""
    view = await owned_instance(instances, caller, instance_id)
    command = WakeInstance(instance_id=instance_id, correlation_id=_correlation(request))
    sending = instances.transition(command, view.user_id)
    return _accepted(await commanded(who, "wake", view.user_id, instance_id, sending), response)


@router.delete(
    "/{instance_id}", status_code=202, response_model=CommandAccepted, responses=_TRANSITION
)
async def destroy_instance(
    instance_id: UUID,
    request: Request,
    response: Response,
    caller: CallerDep,
    who: WhoDep,
    instances: InstancesDep,
    purge: Annotated[bool, Query(description="Also delete the data volume")] = False,
) -> CommandAccepted:
    """Remove an instance's compute; its data volume is kept unless ``purge=true``."""
    view = await owned_instance(instances, caller, instance_id)
    command = DestroyInstance(
        instance_id=instance_id, purge=purge, correlation_id=_correlation(request)
    )
    sending = instances.transition(command, view.user_id)
    result = await commanded(who, "destroy", view.user_id, instance_id, sending, purge=purge)
    return _accepted(result, response)


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
    await owned_instance(instances, caller, instance_id)  # 404 before the stream opens

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
