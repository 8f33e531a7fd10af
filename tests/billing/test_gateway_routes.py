"""The billing routes a signed-in user calls, through the real gateway, billing, provisioner and
local Stripe: plans, 402 before paying, checkout, the instance after paying, status, portal.
With billing off: the status says so, checkout and portal do not exist, instances are free."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.app import create_app
from gateway.auth.service import AccountService
from gateway.settings import GatewaySettings
from gateway.state import GatewayState
from tests.billing.conftest import BillingFactory, Stripe
from tests.provisioner_app import ProvisionerFactory
from tests.support import eventually

pytestmark = pytest.mark.integration

BASE_URL = "http://gateway.test"


@asynccontextmanager
async def gateway(
    tmp_path: Path, nats_url: str, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    settings = GatewaySettings(
        data_dir=tmp_path / "gateway",
        database_url=None,
        nats_url=nats_url,
        base_url=BASE_URL,
        jwt_secret="billing-gateway-tests-" + "s" * 32,
        rate_limit_api="1000/minute",
        admission_timeout_seconds=5.0,
        **overrides,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            client.headers["Authorization"] = f"Bearer {await _session(app, client)}"
            yield client


async def _session(app: FastAPI, client: httpx.AsyncClient) -> str:
    state: GatewayState = app.state.gateway
    async with state.db.transaction() as session:
        link = await AccountService(session, state.tokens, base_url=BASE_URL).start_sign_in(
            f"{uuid.uuid4().hex[:10]}@example.com"
        )
    token = httpx.URL(link.url).params["token"]
    answer = await client.post(
        "/auth/verify", json={"token": token}, headers={"Accept": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


async def test_a_user_pays_through_the_gateway_and_gets_a_workstation(
    tmp_path: Path,
    nats_url: str,
    local_stripe: Stripe,
    billing: BillingFactory,
    provisioner: ProvisionerFactory,
) -> None:
    async with billing(), provisioner(), gateway(tmp_path, nats_url, billing_enabled=True) as api:
        plans = (await api.get("/billing/plans")).json()["items"]
        before = (await api.get("/billing/status")).json()
        refused = await api.post("/instances")
        no_portal = await api.post("/billing/portal")
        bad_plan = await api.post("/billing/checkout", json={"plan": "gold"})

        checkout = await api.post("/billing/checkout", json={"plan": "starter"})
        assert checkout.status_code == 200, checkout.text
        await local_stripe.pay(checkout.json()["url"])
        mine = await eventually(lambda: _running(api), timeout=20, what="the workstation")
        after = (await api.get("/billing/status")).json()
        portal = await api.post("/billing/portal")
        again = await api.post("/billing/checkout", json={"plan": "pro"})

    assert [p["name"] for p in plans] == ["starter", "pro"]
    assert plans[1]["machine"] == {"cpus": 2.0, "memory_mb": 4096, "disk_gb": 50}
    assert (before["enabled"], before["entitled"], before["status"]) == (True, False, None)
    assert refused.status_code == 402
    assert refused.json()["error"] == "PaymentRequired"
    assert "/billing/checkout" in refused.json()["detail"]
    assert (no_portal.status_code, no_portal.json()["error"]) == (404, "NoSubscription")
    assert (bad_plan.status_code, bad_plan.json()["error"]) == (400, "UnknownPlan")
    assert len(mine) == 1
    assert (after["plan"], after["status"], after["entitled"]) == ("starter", "active", True)
    assert after["hours_included"] == 40
    assert portal.status_code == 200
    assert portal.json()["url"].startswith(local_stripe.url)
    assert (again.status_code, again.json()["error"]) == (409, "AlreadySubscribed")


async def test_with_billing_off_the_status_says_so_and_there_is_nothing_to_pay(
    tmp_path: Path, nats_url: str, provisioner: ProvisionerFactory
) -> None:
    async with provisioner(billing_enabled=False), gateway(tmp_path, nats_url) as api:
        status = await api.get("/billing/status")
        plans = await api.get("/billing/plans")
        checkout = await api.post("/billing/checkout", json={"plan": "starter"})
        portal = await api.post("/billing/portal")
        created = await api.post("/instances")
        schema = (await api.get("/openapi.json")).json()

    assert status.json() == {
        "enabled": False,
        "entitled": True,
        "plan": None,
        "status": None,
        "current_period_start": None,
        "current_period_end": None,
        "grace_until": None,
        "hours_used": 0.0,
        "hours_included": None,
        "running_hours": 0.0,
        "frozen_hours": 0.0,
        "frozen_hour_weight": None,
        "budget_reached": False,
    }
    assert plans.json() == {"items": []}
    assert checkout.status_code == 404
    assert portal.status_code == 404
    assert created.status_code in (201, 202)
    assert "/billing/status" in schema["paths"]
    assert "/billing/checkout" not in schema["paths"]


async def _running(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    found = (await api.get("/instances")).json()
    return [i for i in found if i["status"] == "running"]
