"""What an outside probe of Stripe's webhook found (issue 21), each as Stripe or an attacker with a
signed body would meet it: a signed body that is no usable event is never answered 503 (Stripe
retries a 5xx for days), a signature dated ahead is refused like one too old, an id longer than
its column is refused, a subscription event cannot entitle another user than its customer's
owner, and the port Stripe reaches serves nothing else."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from nats.aio.client import Client as NatsClient

from billing.standin import sign
from tests.billing.conftest import (
    WEBHOOK_SECRET,
    BillingFactory,
    Stripe,
    checkout,
    post_event,
    status,
    stripe_event,
)

pytestmark = pytest.mark.integration


async def _fetch(billing_db: str, query: str, *args: Any) -> Any:
    conn = await asyncpg.connect(billing_db.replace("postgresql+asyncpg", "postgresql"))
    try:
        return await conn.fetchrow(query, *args)
    finally:
        await conn.close()


async def _post_signed(url: str, body: bytes, *, signed_at: int | None = None) -> httpx.Response:
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": sign(body, WEBHOOK_SECRET, signed_at),
    }
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(url, content=body, headers=headers)


def _envelope(
    event_type: str, obj: str, *, created: str | None = None, event_id: str = ""
) -> bytes:
    """An event's JSON written by hand: Python's json cannot write ``1e999`` or an object as
    deep as Stripe's body limit allows."""
    return (
        f'{{"id": "{event_id or "evt_probe_" + uuid.uuid4().hex[:12]}", "object": "event",'
        f' "created": {created or int(time.time())}, "type": "{event_type}",'
        f' "data": {{"object": {obj}}}}}'
    ).encode()


async def test_signed_bodies_that_are_no_usable_event_are_refused_or_parked_never_503(
    local_stripe: Stripe, billing: BillingFactory, billing_db: str
) -> None:
    url = local_stripe.standin.webhook_url
    updated = "customer.subscription.updated"
    deep = "[" * 50_000 + "]" * 50_000
    refused = {
        "created 1e999": _envelope(updated, '{"id": "sub_x"}', created="1e999"),
        "created 10**30": _envelope(updated, '{"id": "sub_x"}', created=str(10**30)),
        "50,000 nested arrays": deep.encode(),
        "50,000 nested arrays in data.object": _envelope(
            updated, f'{{"id": "sub_x", "a": {deep}}}'
        ),
        "data.object []": _envelope(updated, "[]"),
        "an id of 101 characters": _envelope(updated, '{"id": "sub_x"}', event_id="e" * 101),
    }
    without_id = _envelope(updated, '{"object": "subscription", "status": "active"}')
    async with billing():
        answers = {name: await _post_signed(url, body) for name, body in refused.items()}
        parked = await _post_signed(url, without_id)
        stored = json.loads(without_id)["id"]
        row = await _fetch(
            billing_db, "SELECT processed_at, parked_at FROM stripe_events WHERE id = $1", stored
        )
        good = await post_event(url, stripe_event("customer.created", {"id": "cus_after"}))

    for name, answer in answers.items():
        assert answer.status_code == 400, (name, answer.status_code, answer.text)
        assert answer.json()["error"] == "InvalidWebhook", name
    assert "longer than 100" in answers["an id of 101 characters"].json()["detail"]
    # Signed and an event, but one billing cannot act on: kept and parked, and Stripe is done.
    assert parked.status_code == 200, parked.text
    assert row is not None
    assert row["processed_at"] is None
    assert row["parked_at"] is not None
    assert good.status_code == 200  # and billing still answers what comes next


async def test_a_signature_dated_an_hour_ahead_is_refused_like_one_an_hour_old(
    local_stripe: Stripe, billing: BillingFactory, billing_db: str
) -> None:
    url = local_stripe.standin.webhook_url
    event = stripe_event("customer.created", {"id": "cus_future", "object": "customer"})
    async with billing():
        ahead = await post_event(url, event, age=-3600)
        slightly_ahead = await post_event(url, stripe_event("customer.created", {}), age=-60)
        row = await _fetch(billing_db, "SELECT id FROM stripe_events WHERE id = $1", event["id"])

    assert ahead.status_code == 400, ahead.text
    assert "tolerance" in ahead.json()["detail"]
    assert row is None  # nothing stored
    assert slightly_ahead.status_code == 200  # a clock a minute off is within the tolerance


def _subscription(sub_id: str, customer: str, user_id: uuid.UUID) -> dict[str, Any]:
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": "active",
        "metadata": {"user_id": str(user_id), "plan": "starter"},
        "items": {"data": [{"price": {"id": "price_claudecloud_starter"}}]},
    }


async def test_a_subscription_on_one_users_customer_cannot_entitle_another_user(
    bus: NatsClient, local_stripe: Stripe, billing: BillingFactory, billing_db: str
) -> None:
    owner, other = uuid.uuid4(), uuid.uuid4()
    url = local_stripe.standin.webhook_url
    async with billing():
        session = await checkout(bus, owner)  # makes the owner's Stripe customer
        customer = local_stripe.standin.checkout_sessions[session.session_id]["customer"]
        # Stripe no longer knows this subscription, so billing reads the event's own snapshot.
        forged = stripe_event(
            "customer.subscription.updated", _subscription("sub_probe_other", customer, other)
        )
        answered = await post_event(url, forged)
        others = await status(bus, other)
        owners = await status(bus, owner)
        row = await _fetch(billing_db, "SELECT * FROM stripe_events WHERE id = $1", forged["id"])

        own = stripe_event(
            "customer.subscription.updated", _subscription("sub_probe_own", customer, owner)
        )
        await post_event(url, own)
        owners_after = await status(bus, owner)

    assert answered.status_code == 200  # Stripe is done with it...
    assert not others.entitled  # ...and it entitled nobody
    assert not owners.entitled
    assert row is not None
    assert row.get("parked_at") is not None  # kept for a person, with why
    assert customer in row["last_error"]
    assert owners_after.entitled  # the same event naming the customer's owner works


async def test_the_port_stripe_reaches_serves_the_webhook_and_health_alone(
    local_stripe: Stripe, billing: BillingFactory, billing_port: int, webhook_port: int
) -> None:
    public, internal = f"http://127.0.0.1:{webhook_port}", f"http://127.0.0.1:{billing_port}"
    paths = ("/metrics", "/asyncapi", "/asyncapi.json")
    event = stripe_event("customer.created", {"id": "cus_ports", "object": "customer"})
    async with billing(), httpx.AsyncClient(timeout=30) as http:
        delivered = await post_event(local_stripe.standin.webhook_url, event)
        outside = {path: await http.get(public + path) for path in (*paths, "/healthz")}
        tried = await http.post(public + "/asyncapi/try", json={"channelName": "cmd.x"})
        inside = {path: await http.get(internal + path) for path in paths}
        webhook_inside = await http.post(internal + "/stripe/webhook", content=b"{}")

    assert local_stripe.standin.webhook_url.startswith(public)
    assert delivered.status_code == 200
    assert outside.pop("/healthz").status_code == 200
    for path, answer in outside.items():
        assert answer.status_code == 404, path
        assert "claudecloud_" not in answer.text
    assert tried.status_code == 404
    for path, answer in inside.items():
        assert answer.status_code == 200, path
    assert "claudecloud_billing_webhooks_total" in inside["/metrics"].text
    assert webhook_inside.status_code == 404
