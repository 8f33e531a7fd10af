"""The webhook answers as Stripe expects and changes nothing for what Stripe did not sign; a
webhook that arrives while billing is down, or is stored but not acted on, still completes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from nats.aio.client import Client as NatsClient

from billing.standin import sign
from devstack import Child
from devstack.stack import port_is_free, wait_for_health
from tests.billing.conftest import (
    SECRET_KEY,
    WEBHOOK_SECRET,
    BillingFactory,
    Stripe,
    checkout,
    instances,
    post_event,
    status,
    stripe_event,
)
from tests.provisioner_app import ProvisionerFactory
from tests.support import eventually, free_port

pytestmark = pytest.mark.integration


async def stored_events(billing_db: str) -> int:
    conn = await asyncpg.connect(billing_db.replace("postgresql+asyncpg", "postgresql"))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM stripe_events"))
    finally:
        await conn.close()


async def test_what_stripe_did_not_sign_is_refused_and_changes_nothing(
    local_stripe: Stripe, billing: BillingFactory, billing_db: str
) -> None:
    url = local_stripe.standin.webhook_url
    user = uuid.uuid4()
    completed = stripe_event(
        "checkout.session.completed",
        {"id": "cs_forged", "object": "checkout.session", "mode": "subscription",
         "subscription": "sub_forged", "metadata": {"user_id": str(user)}},
    )  # fmt: skip
    async with billing():
        before = await stored_events(billing_db)
        forged = await post_event(url, completed, secret="whsec_someone_else")
        stale = await post_event(url, completed, age=301)
        unsigned = await _post(url, json.dumps(completed).encode(), {})
        not_json = await _post(url, b"{not json", _signature(b"{not json"))
        not_an_event = await _post(url, b'["x"]', _signature(b'["x"]'))
        wrong_type = await _post(url, b"a=b", {"Content-Type": "application/x-www-form-urlencoded"})
        oversized = await _post(url, b"{" + b" " * 300_000 + b"}", {})
        huge_headers = await _post(url, b"{}", {"X-Padding": "a" * 100_000})
        async with httpx.AsyncClient() as http:
            wrong_method = await http.get(url)
        after = await stored_events(billing_db)

        unknown = stripe_event("customer.tax_id.created", {"id": "txi_1", "object": "tax_id"})
        answered = await post_event(url, unknown)
        again = await post_event(url, unknown)

    for refused in (forged, stale, unsigned, not_json, not_an_event):
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "InvalidWebhook"
    assert "tolerance" in stale.json()["detail"].lower()
    assert wrong_type.status_code == 415
    assert oversized.status_code == 413
    assert huge_headers.status_code == 431
    assert wrong_method.status_code == 405
    assert after == before  # nothing refused was stored
    assert (answered.status_code, answered.json()["duplicate"]) == (200, False)
    assert (again.status_code, again.json()["duplicate"]) == (200, True)


async def test_a_webhook_missed_while_billing_was_down_completes_on_stripes_retry(
    bus: NatsClient,
    local_stripe: Stripe,
    billing: BillingFactory,
    provisioner: ProvisionerFactory,
) -> None:
    user = uuid.uuid4()
    async with provisioner():
        async with billing():
            session = await checkout(bus, user)
        await local_stripe.pay(session.url)  # billing is down: nobody answers
        event_id = local_stripe.standin.checkout_sessions[session.session_id]["_event"]
        assert local_stripe.standin.deliveries[-1] == (event_id, 0)

        async with billing():
            retried = await local_stripe.post(f"/_standin/events/{event_id}/resend")
            assert retried["status"] == 200
            await eventually(lambda: _running(bus, user), timeout=20, what="instance running")
            assert (await status(bus, user)).status == "active"


async def test_billing_killed_between_storing_and_acting_completes_on_restart(
    bus: NatsClient,
    nats_url: str,
    local_stripe: Stripe,
    billing: BillingFactory,
    provisioner: ProvisionerFactory,
    billing_db: str,
    billing_port: int,
    webhook_port: int,
    tmp_path: Path,
) -> None:
    user = uuid.uuid4()
    async with provisioner():
        async with billing():
            session = await checkout(bus, user)
        # The billing process stores the event, then cannot act on it (Stripe cannot be read
        # back), and is SIGKILLed: what a crash between storing and acting leaves behind.
        process = Child(
            "billing",
            [sys.executable, "-m", "billing"],
            {
                **os.environ,
                "BILLING_DATABASE_URL": billing_db,
                "BILLING_NATS_URL": nats_url,
                "BILLING_HTTP_PORT": str(billing_port),
                "BILLING_WEBHOOK_PORT": str(webhook_port),
                "BILLING_ENABLED": "true",
                "BILLING_STRIPE_SECRET_KEY": SECRET_KEY,
                "BILLING_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "BILLING_STRIPE_API_BASE": f"http://127.0.0.1:{free_port()}",
                "BILLING_STRIPE_MAX_NETWORK_RETRIES": "0",
                "BILLING_SWEEP_SECONDS": "3600",
            },
            log=tmp_path / "billing.log",
        )
        process.start()
        try:
            url = f"http://127.0.0.1:{billing_port}/healthz"
            await asyncio.to_thread(wait_for_health, url, timeout=60, child=process)
            await local_stripe.pay(session.url)
            event_id = local_stripe.standin.checkout_sessions[session.session_id]["_event"]
            assert local_stripe.standin.deliveries[-1] == (event_id, 200)  # stored: Stripe is done
            assert (await status(bus, user)).status is None  # ...but nothing acted on
        finally:
            process.kill()
        await eventually(
            lambda: port_is_free(billing_port) and port_is_free(webhook_port),
            what="the killed billing's ports free",
        )
        assert await stored_events_unhandled(billing_db, event_id)
        assert not (await instances(bus, user)).items

        async with billing():  # restarted: finishes what was stored
            await eventually(lambda: _running(bus, user), timeout=20, what="instance running")
            assert (await status(bus, user)).status == "active"
        assert not await stored_events_unhandled(billing_db, event_id)


async def stored_events_unhandled(billing_db: str, event_id: str) -> bool:
    conn = await asyncpg.connect(billing_db.replace("postgresql+asyncpg", "postgresql"))
    try:
        query = "SELECT processed_at IS NULL FROM stripe_events WHERE id = $1"
        return bool(await conn.fetchval(query, event_id))
    finally:
        await conn.close()


async def _running(bus: NatsClient, user: uuid.UUID) -> bool:
    return any(i.status == "running" for i in (await instances(bus, user)).items)


def _signature(payload: bytes) -> dict[str, str]:
    return {"Stripe-Signature": sign(payload, WEBHOOK_SECRET)}


async def _post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(
            url, content=body, headers={"Content-Type": "application/json", **headers}
        )
