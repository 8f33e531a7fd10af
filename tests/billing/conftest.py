"""Billing against a local Stripe: the real ``stripe`` library, localstripe with the stand-in's
Checkout Sessions, Billing Portal and Meter events (``billing.standin``), the billing worker
served over HTTP by uvicorn in this process (so Stripe's webhooks reach it on a real port), the
provisioner beside it with billing on, and the suite's own NATS and Postgres.

One database per service for the run; each test is isolated by its own user.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import nats
import pytest
import stripe
from aiohttp import web
from nats.aio.client import Client as NatsClient
from pydantic import BaseModel

from billing.app import create_app as create_billing
from billing.settings import BillingSettings
from billing.standin import StandIn, sign
from billing.stripe_api import STRIPE_API_VERSION
from claudecloud_common.contracts.base import Query
from claudecloud_common.contracts.billing import (
    BillingStatus,
    CheckoutSession,
    GetBillingStatus,
    ListPlans,
    StartCheckout,
)
from claudecloud_common.contracts.instances import InstanceList, ListInstances
from claudecloud_common.rpc import NobodyAnswers, request_on
from claudecloud_common.server import http_server, listen_socket
from tests.provisioner_app import ProvisionerFactory, provisioner_factory
from tests.support import create_database, drop_database, eventually, free_port

WEBHOOK_SECRET = "whsec_billing_tests"
SECRET_KEY = "sk_test_billing_tests"

R = TypeVar("R", bound=BaseModel)


@pytest.fixture(scope="session")
async def billing_db() -> AsyncIterator[str]:
    url = await create_database("cc_billing")
    yield url
    await drop_database(url)


@pytest.fixture(scope="session")
async def provisioner_db() -> AsyncIterator[str]:
    url = await create_database("cc_billing_provisioner")
    yield url
    await drop_database(url)


@pytest.fixture(scope="session")
async def bus(nats_url: str) -> AsyncIterator[NatsClient]:
    nc = await nats.connect(nats_url)
    yield nc
    await nc.close()


@pytest.fixture(scope="session")
def billing_port() -> int:
    """Billing's own (internal) port: health, metrics, docs."""
    return free_port()


@pytest.fixture(scope="session")
def webhook_port() -> int:
    """Billing's public port: Stripe's webhook alone."""
    return free_port()


class Stripe:
    """The local Stripe: its address, the stand-in's state, and the real client library."""

    def __init__(self, standin: StandIn, url: str) -> None:
        self.standin = standin
        self.url = url
        self.client = stripe.StripeClient(
            SECRET_KEY,
            stripe_version=STRIPE_API_VERSION,
            base_addresses={"api": url},
            http_client=stripe.HTTPXClient(),
        )

    async def pay(self, checkout_url: str, *, deliveries: int = 1, card: str | None = None) -> None:
        """Press "Pay" on the Checkout page."""
        form = {"deliveries": str(deliveries), **({"card": card} if card else {})}
        async with httpx.AsyncClient() as http:
            page = await http.get(checkout_url)
            assert page.status_code == 200
            assert "Pay" in page.text
            paid = await http.post(f"{checkout_url}/pay", data=form)
        assert paid.status_code == 303, paid.text

    async def post(self, path: str) -> Any:
        async with httpx.AsyncClient(base_url=self.url) as http:
            answer = await http.post(path)
        answer.raise_for_status()
        return answer.json()

    async def get(self, path: str) -> Any:
        async with httpx.AsyncClient(base_url=self.url) as http:
            answer = await http.get(path)
        answer.raise_for_status()
        return answer.json()


@pytest.fixture(scope="session")
async def local_stripe(webhook_port: int) -> AsyncIterator[Stripe]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    standin = StandIn(
        webhook_url=f"http://127.0.0.1:{webhook_port}/stripe/webhook",
        webhook_secret=WEBHOOK_SECRET,
        public_url=url,
    )
    runner = web.AppRunner(standin.app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield Stripe(standin, url)
    await runner.cleanup()


BillingFactory = Callable[..., AbstractAsyncContextManager[BillingSettings]]


@pytest.fixture
def billing(
    billing_db: str,
    nats_url: str,
    billing_port: int,
    webhook_port: int,
    local_stripe: Stripe,
    tmp_path: Path,
) -> BillingFactory:
    """Serve the real billing app (lifespan, relay, subscribers) on ``billing_port`` and its
    webhook on ``webhook_port``, as ``python -m billing`` does."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[BillingSettings]:
        values: dict[str, Any] = {
            "data_dir": tmp_path,
            "database_url": billing_db,
            "nats_url": nats_url,
            "http_port": billing_port,
            "webhook_port": webhook_port,
            "billing_enabled": True,
            "stripe_secret_key": SECRET_KEY,
            "stripe_webhook_secret": WEBHOOK_SECRET,
            "stripe_api_base": local_stripe.url,
            "stripe_max_network_retries": 0,
            "outbox_poll_seconds": 0.5,
            "outbox_grace_seconds": 1.0,
            "sweep_seconds": 0.5,
        }
        settings = BillingSettings(**(values | overrides))
        server = http_server(create_billing(settings), lifespan="on")
        sockets = [listen_socket("127.0.0.1", port) for port in (billing_port, webhook_port)]
        task = asyncio.create_task(server.serve(sockets=sockets))
        await eventually(lambda: server.started or task.done(), what="billing started")
        assert not task.done(), "billing did not start"
        # Started, but on a loaded machine its subscriptions may not be in NATS yet.
        await eventually(lambda: _answers(nats_url), what="billing answering queries")
        try:
            yield settings
        finally:
            server.should_exit = True
            await task

    return start


@pytest.fixture
def provisioner(provisioner_db: str, nats_url: str, tmp_path: Path) -> ProvisionerFactory:
    """The real provisioner (fake machines) with billing on."""
    return provisioner_factory(provisioner_db, nats_url, tmp_path, billing_enabled=True)


async def _answers(nats_url: str) -> bool:
    client = await nats.connect(nats_url)
    try:
        await request_on(client, ListPlans(), timeout=5)
    except NobodyAnswers:
        return False
    finally:
        await client.close()
    return True


async def ask(bus: NatsClient, query: Query[R]) -> R:
    """A request-reply query as the gateway sends it; an error reply fails the test."""
    return await request_on(bus, query, timeout=10)


async def checkout(bus: NatsClient, user_id: uuid.UUID, plan: str = "starter") -> CheckoutSession:
    query = StartCheckout(
        user_id=user_id,
        email=f"{user_id.hex[:8]}@example.com",
        plan=plan,
        success_url="http://localhost:8000/billing/done",
        cancel_url="http://localhost:8000/billing",
        request_id=uuid.uuid4(),
    )
    return await ask(bus, query)


async def status(bus: NatsClient, user_id: uuid.UUID) -> BillingStatus:
    return await ask(bus, GetBillingStatus(user_id=user_id))


async def instances(bus: NatsClient, user_id: uuid.UUID) -> InstanceList:
    return await ask(bus, ListInstances(user_id=user_id))


async def subscribe(bus: NatsClient, local_stripe: Stripe, user_id: uuid.UUID) -> str:
    """Check out and pay; wait until the user's instance runs. Returns the subscription id."""
    session = await checkout(bus, user_id)
    await local_stripe.pay(session.url)
    await eventually(
        lambda: _running(bus, user_id), timeout=20, what="the paid user's instance running"
    )
    found = local_stripe.standin.checkout_sessions[session.session_id]["subscription"]
    return str(found)


async def _running(bus: NatsClient, user_id: uuid.UUID) -> bool:
    items = (await instances(bus, user_id)).items
    return any(i.status == "running" for i in items)


async def post_event(
    webhook_url: str, event: dict[str, Any], *, secret: str = WEBHOOK_SECRET, age: int = 0
) -> httpx.Response:
    """POST ``event`` as Stripe would, signed ``age`` seconds ago with ``secret``."""
    payload = json.dumps(event).encode()
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": sign(payload, secret, int(time.time()) - age),
    }
    async with httpx.AsyncClient() as http:
        return await http.post(webhook_url, content=payload, headers=headers)


def stripe_event(
    event_type: str, obj: dict[str, Any], *, created: int | None = None
) -> dict[str, Any]:
    return {
        "id": f"evt_test_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "created": created or int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "type": event_type,
    }
