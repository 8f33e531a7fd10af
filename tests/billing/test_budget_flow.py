"""Budgets end to end, through the real gateway, two billing replicas, the provisioner (fake
machines), local Stripe, NATS, PostgreSQL and an SMTP server: three mails at 75, 90 and 100 %,
exactly once each though samples are redelivered and a replica restarts in between; the hard stop
pauses the workstation and refuses create and wake with ``budget_reached``; raising the budget
wakes it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from nats.aio.client import Client as NatsClient
from websockets.exceptions import ConnectionClosed

from billing.app import create_app as create_billing
from billing.settings import DEFAULT_PLANS, BillingSettings
from claudecloud_common.contracts.activity import UsageSample
from claudecloud_common.server import http_server, listen_socket
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from tests.billing.conftest import BillingFactory, Stripe
from tests.billing.test_gateway_routes import BASE_URL, _session
from tests.provisioner_app import ProvisionerFactory
from tests.support import eventually, free_port

pytestmark = pytest.mark.integration

HOUR = 3600
# One hour included, then a dollar an hour: a $10 budget is ten hours beyond the first.
PLANS = {
    name: plan.model_copy(update={"included_hours": 1.0, "overage_usd_per_hour": 1.0})
    for name, plan in DEFAULT_PLANS.items()
}


class Mailbox:
    """An SMTP handler that keeps each mail's subject."""

    def __init__(self) -> None:
        self.subjects: list[str] = []

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        self.subjects.append(str(message_from_bytes(raw, policy=policy.default)["Subject"]))
        return "250 Message accepted for delivery"

    def budget_mails(self) -> list[str]:
        return [s for s in self.subjects if "budget" in s]


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@asynccontextmanager
async def gateway(tmp_path: Path, nats_url: str, **overrides: Any) -> AsyncIterator[Api]:
    """The real gateway on a port of its own (its WebSockets too), a user signed in."""
    port = free_port()
    settings = GatewaySettings(
        data_dir=tmp_path / "gateway",
        database_url=None,
        nats_url=nats_url,
        base_url=BASE_URL,
        jwt_secret="billing-budget-tests-" + "s" * 32,
        rate_limit_api="1000/minute",
        admission_timeout_seconds=5.0,
        billing_enabled=True,
        **overrides,
    )
    app = create_gateway(settings)
    server = http_server(app, lifespan="on")
    task = asyncio.create_task(server.serve(sockets=[listen_socket("127.0.0.1", port)]))
    await eventually(lambda: server.started or task.done(), what="the gateway started")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            client.headers["Authorization"] = f"Bearer {await _session(app, client)}"
            yield Api(client, f"ws://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await task


class Api:
    def __init__(self, http: httpx.AsyncClient, ws_base: str) -> None:
        self.http = http
        self.ws_base = ws_base

    async def chat_refusal(self, instance: str) -> tuple[int, str]:
        """Open the instance's chat; the close code and reason the gateway ends it with."""
        url = f"{self.ws_base}/instances/{instance}/chat"
        headers = {"Authorization": self.http.headers["Authorization"]}
        with pytest.raises(ConnectionClosed) as closed:
            async with websockets.connect(url, additional_headers=headers) as socket:
                await socket.recv()
        received = closed.value.rcvd
        assert received is not None
        return received.code, received.reason


@asynccontextmanager
async def second_replica(first: BillingSettings) -> AsyncIterator[None]:
    """Another billing process on the same database and bus, on ports of its own."""
    ports = (free_port(), free_port())
    settings = first.model_copy(update={"http_port": ports[0], "webhook_port": ports[1]})
    server = http_server(create_billing(settings), lifespan="on")
    task = asyncio.create_task(server.serve(sockets=[listen_socket("127.0.0.1", p) for p in ports]))
    await eventually(lambda: server.started or task.done(), what="the second replica started")
    try:
        yield
    finally:
        server.should_exit = True
        await task


async def publish(bus: NatsClient, sample: UsageSample, *, times: int = 1) -> None:
    """Deliver ``sample`` ``times`` times as separate messages (JetStream cannot drop them)."""
    for _ in range(times):
        await bus.jetstream().publish(
            str(sample.subject),
            sample.model_dump_json().encode(),
            headers={"Nats-Msg-Id": str(uuid.uuid4())},
        )


def usage(user: str, instance: str, hours: float) -> UsageSample:
    return UsageSample(
        user_id=uuid.UUID(user),
        instance_id=uuid.UUID(instance),
        seconds=hours * HOUR,
        sample_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
    )


async def test_alerts_once_each_hard_stop_refuses_and_a_raised_budget_wakes(
    tmp_path: Path,
    nats_url: str,
    bus: NatsClient,
    local_stripe: Stripe,
    billing: BillingFactory,
    provisioner: ProvisionerFactory,
    smtp: tuple[Mailbox, int],
) -> None:
    box, smtp_port = smtp
    mail = {"smtp_host": "127.0.0.1", "smtp_port": smtp_port, "smtp_starttls": False}
    async with (
        provisioner(),
        gateway(tmp_path, nats_url, **mail) as gw,
        AsyncExitStack() as replicas,
    ):
        api = gw.http
        async with billing(plans=PLANS) as first:
            await replicas.enter_async_context(second_replica(first))  # outlives the first
            checkout = await api.post("/billing/checkout", json={"plan": "starter"})
            await local_stripe.pay(checkout.json()["url"])
            (mine,) = await eventually(lambda: _with_status(api, "running"), timeout=20, what="up")
            user, instance = mine["user_id"], mine["id"]
            budget = await api.put("/me/budget", json={"monthly_limit_usd": 10, "hard_stop": True})
            assert budget.status_code == 200, budget.text
            refusals = [
                await api.put("/me/budget", json={"monthly_limit_usd": -1}),
                await api.put("/me/budget", json={"monthly_limit_usd": 1, "extra": 1}),
                await api.put("/me/budget", json={"hard_stop": True}),
                await api.get("/billing/usage", params={"from": "2026-02-01", "to": "2026-01-01"}),
                await api.get("/billing/usage", params={"from": "2024-01-01", "to": "2026-01-01"}),
                await api.get("/billing/usage", params={"from": "yesterday"}),
            ]
            async with httpx.AsyncClient(base_url=str(api.base_url)) as anonymous:
                signed_out = await anonymous.get("/me/budget")

            await publish(bus, usage(user, instance, 1.0))  # the included hour
            await publish(bus, usage(user, instance, 7.5), times=3)  # $7.50: 75 %
            await eventually(lambda: len(box.budget_mails()) >= 1, what="the 75 % mail")
            ninety = usage(user, instance, 1.5)  # $9: 90 %
            await publish(bus, ninety)
        # The first replica stopped: the second goes on alone, then the first comes back.
        await publish(bus, ninety)
        await eventually(lambda: len(box.budget_mails()) >= 2, what="the 90 % mail")
        async with billing(plans=PLANS):
            await publish(bus, usage(user, instance, 1.0), times=2)  # $10: 100 %, the hard stop
            await eventually(lambda: len(box.budget_mails()) >= 3, what="the 100 % mail")
            (paused,) = await eventually(lambda: _with_status(api, "paused"), what="paused")
            shown = await api.get("/me/budget")
            create = await api.post("/instances")
            wake = await api.post(f"/instances/{instance}/wake")
            chat = await gw.chat_refusal(instance)
            await publish(bus, usage(user, instance, 0.5))  # late: nothing more is mailed

            raised = await api.put("/me/budget", json={"monthly_limit_usd": 30, "hard_stop": True})
            await eventually(lambda: _with_status(api, "running"), timeout=20, what="woken")
            after = (await api.get("/billing/status")).json()
            series = (await api.get("/billing/usage")).json()

    assert [r.status_code for r in refusals] == [422] * len(refusals)
    assert {r.json()["error"] for r in refusals} == {"ValidationError"}
    assert signed_out.status_code == 401
    assert [m.split(":")[1].strip() for m in box.budget_mails()] == [
        "75 % of your monthly budget is spent",
        "90 % of your monthly budget is spent",
        "100 % of your monthly budget is spent",
    ]
    assert paused["pause_reason"] == "budget"
    assert shown.status_code == 200, shown.text
    assert shown.json()["reached"] is True
    assert shown.json()["alerts_sent"] == [75, 90, 100]
    for refused in (create, wake):
        assert refused.status_code == 402, refused.text
        assert refused.json()["code"] == "budget_reached"
        assert "PUT /me/budget" in refused.json()["detail"]
    assert chat[0] == 4402
    assert "raise or remove your budget" in chat[1]
    assert raised.status_code == 200
    assert raised.json()["reached"] is False
    assert after["budget_reached"] is False
    assert series["hours_used"] == pytest.approx(11.5)
    assert series["overage_usd"] == pytest.approx(10.5)


async def _with_status(api: httpx.AsyncClient, status: str) -> list[dict[str, Any]]:
    found = (await api.get("/instances")).json()
    return [i for i in found if i["status"] == status]
