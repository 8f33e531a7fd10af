"""Liveness for load balancers and monitors: no auth, says what answers."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from claudecloud_common.worker import health_report

from .state import gateway_state

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    bus: Literal["ok", "unreachable"]
    database: Literal["ok", "unreachable"]


@router.get(
    "/healthz",
    summary="Whether the bus and the database answer",
    response_model=Health,
    responses={503: {"model": Health, "description": "The bus or the database does not answer"}},
)
async def healthz(request: Request) -> JSONResponse:
    """200 when the bus and the gateway's database answer, 503 (with which one) otherwise."""
    state = gateway_state(request)
    ok, checks = await health_report(state.broker, state.db)
    body = {"status": "ok" if ok else "degraded", **checks}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
