"""Liveness for load balancers and monitors (no auth, says what answers), and the metrics for
Prometheus (the operator key: the gateway's port is public, what it counts is not)."""

from __future__ import annotations

import hmac
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from claudecloud_common.worker import health_report

from .auth.errors import InvalidCredentials, MissingCredentials
from .deps import SettingsDep, StateDep

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
async def healthz(state: StateDep) -> JSONResponse:
    """200 when the bus and the gateway's database answer, 503 (with which one) otherwise."""
    ok, checks = await health_report(state.broker, state.db)
    body = {"status": "ok" if ok else "degraded", **checks}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, settings: SettingsDep) -> Response:
    """Prometheus' scrape. The operator key comes as ``X-API-Key`` or as a bearer token (what
    Prometheus' ``authorization`` scrape setting sends); without the key set, metrics are closed."""
    given = request.headers.get("x-api-key") or _bearer(request.headers.get("authorization"))
    if not given:
        raise MissingCredentials("metrics need the operator key (X-API-Key or a bearer token)")
    expected = settings.admin_api_key
    if expected is None or not hmac.compare_digest(
        given.encode(), expected.get_secret_value().encode()
    ):
        raise InvalidCredentials("invalid API key")
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _bearer(header: str | None) -> str | None:
    scheme, _, token = (header or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
