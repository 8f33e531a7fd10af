"""The agent's HTTP routes. Every one requires the instance's secret."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from pydantic import BaseModel

from .auth import Authenticated
from .service import ActivityReport, ActivityService
from .settings import AgentSettings

router = APIRouter(dependencies=[Authenticated])

STARTED = time.monotonic()


class Health(BaseModel):
    status: str
    uptime_seconds: float


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The agent answers: the instance is usable."""
    return Health(status="ok", uptime_seconds=round(time.monotonic() - STARTED, 3))


@router.get("/activity", response_model=ActivityReport)
async def activity(request: Request) -> ActivityReport:
    """Terminals attached to the tmux session and the user's processes."""
    settings: AgentSettings = request.app.state.settings
    service = ActivityService(settings.tmux_session, settings.own_commands)
    return await service.report()
