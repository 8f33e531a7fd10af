"""Paying makes the workstation appear; cancelling pauses it; a failed payment shows, then pauses
it after the grace period; out-of-order events never move a subscription backwards."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from nats.aio.client import Client as NatsClient

from claudecloud_common.contracts.billing import OpenPortal
from tests.billing.conftest import (
    BillingFactory,
    Stripe,
    ask,
    checkout,
    instances,
    post_event,
    status,
    stripe_event,
    subscribe,
)
from tests.provisioner_app import ProvisionerFactory
from tests.support import eventually, stream_messages

pytestmark = pytest.mark.integration


async def test_checkout_delivered_three_times_gives_one_customer_subscription_and_instance(
    bus: NatsClient,
    local_stripe: Stripe,
    billing: BillingFactory,
    provisioner: ProvisionerFactory,
) -> None:
    user = uuid.uuid4()
    async with billing(), provisioner():
        session = await checkout(bus, user, plan="pro")
        assert session.url.startswith(local_stripe.url)
        await local_stripe.pay(session.url, deliveries=3)

        running = await eventually(
            lambda: _running_instances(bus, user), timeout=20, what="an instance running"
        )
        now = await status(bus, user)
        every = (await instances(bus, user)).items

    event_id = local_stripe.standin.checkout_sessions[session.session_id]["_event"]
    assert [s for e, s in local_stripe.standin.deliveries if e == event_id] == [200, 200, 200]
    everyone = await local_stripe.client.v1.customers.list_async({"limit": 100})
    customers = [c for c in everyone.data if c.to_dict()["metadata"].get("user_id") == str(user)]
    assert len(customers) == 1
    subscriptions = await local_stripe.client.v1.subscriptions.list_async(
        {"customer": customers[0].id}
    )
    assert len(subscriptions.data) == 1
    assert len(running) == 1
    assert len(every) == 1
    assert (now.plan, now.status, now.entitled) == ("pro", "active", True)
    assert now.hours_included == 160
    assert now.current_period_end is not None


async def test_cancel_in_the_portal_pauses_the_instance_for_billing(
    bus: NatsClient,
    nats_url: str,
    local_stripe: Stripe,
    billing: BillingFactory,
    provisioner: ProvisionerFactory,
) -> None:
    user = uuid.uuid4()
    async with billing(), provisioner():
        await subscribe(bus, local_stripe, user)
        await _cancel_in_the_portal(bus, user)

        await eventually(
            lambda: _paused_for_billing(nats_url, user), timeout=20, what="paused for billing"
        )
        now = await status(bus, user)
    assert (now.status, now.entitled) == ("canceled", False)
    # Both commands billing's verdicts caused are on the user's audit chain, billing the actor.
    records = [
        json.loads(m.data)
        for m in await stream_messages(nats_url, "EVT", "evt.audit.recorded")
        if json.loads(m.data)["user_id"] == str(user)
    ]
    assert [(r["actor"]["kind"], r["detail"]["command"]) for r in records] == [
        ("billing", "create"),
        ("billing", "pause"),
    ]
    assert records[1]["detail"]["subscription"] == "canceled"


async def test_a_cancel_while_the_instance_is_being_created_pauses_it_as_it_comes_up(
    bus: NatsClient,
    nats_url: str,
    local_stripe: Stripe,
    billing: BillingFactory,
    provisioner: ProvisionerFactory,
) -> None:
    user = uuid.uuid4()
    async with billing(), provisioner(fake_latency_seconds=3.0):
        session = await checkout(bus, user)
        await local_stripe.pay(session.url)
        await eventually(
            lambda: _with_status(bus, user, "provisioning"), timeout=20, what="provisioning"
        )
        await _cancel_in_the_portal(bus, user)
        await eventually(
            lambda: _announced(nats_url, "evt.billing.subscription.canceled", user),
            what="the cancel announced",
        )
        still_provisioning = await _with_status(bus, user, "provisioning")

        await eventually(
            lambda: _paused_for_billing(nats_url, user), timeout=30, what="paused for billing"
        )
        (instance,) = (await instances(bus, user)).items
    assert still_provisioning, "the cancel must arrive while the machine is being made"
    assert (instance.status, instance.pause_reason) == ("paused", "billing")


async def test_subscribing_again_wakes_the_instance_billing_paused(
    bus: NatsClient,
    nats_url: str,
    local_stripe: Stripe,
    billing: BillingFactory,
    provisioner: ProvisionerFactory,
) -> None:
    user = uuid.uuid4()
    async with billing(), provisioner():
        await subscribe(bus, local_stripe, user)
        (first,) = (await instances(bus, user)).items
        await _cancel_in_the_portal(bus, user)
        await eventually(
            lambda: _paused_for_billing(nats_url, user), timeout=20, what="paused for billing"
        )

        again = await checkout(bus, user)
        await local_stripe.pay(again.url)
        running = await eventually(
            lambda: _running_instances(bus, user), timeout=20, what="woken by the new checkout"
        )
        every = (await instances(bus, user)).items
    assert [i.id for i in running] == [first.id]  # the same workstation, its data kept
    assert len(every) == 1


async def test_a_plan_change_in_the_portal_is_synced_with_the_new_machine(
    bus: NatsClient,
    nats_url: str,
    local_stripe: Stripe,
    billing: BillingFactory,
    provisioner: ProvisionerFactory,
) -> None:
    user = uuid.uuid4()
    async with billing(), provisioner():
        await subscribe(bus, local_stripe, user)
        query = OpenPortal(user_id=user, return_url="http://localhost/", request_id=uuid.uuid4())
        portal = await ask(bus, query)
        async with httpx.AsyncClient() as http:
            assert "Switch to Pro" in (await http.get(portal.url)).text
            assert (await http.post(f"{portal.url}/plan/pro")).status_code == 303
        now = await eventually(lambda: _plan_is(bus, user, "pro"), what="the plan synced")
        updated = await eventually(
            lambda: _announced(nats_url, "evt.billing.subscription.updated", user),
            what="the change announced",
        )
    assert (now.status, now.entitled, now.hours_included) == ("active", True, 160)
    assert updated[-1]["machine"] == {"cpus": 2.0, "memory_mb": 4096, "disk_gb": 50}


async def test_deleted_before_updated_stays_canceled(
    bus: NatsClient,
    local_stripe: Stripe,
    billing: BillingFactory,
    provisioner: ProvisionerFactory,
) -> None:
    user = uuid.uuid4()
    async with billing(), provisioner():
        sub_id = await subscribe(bus, local_stripe, user)
        snapshot = (await local_stripe.client.v1.subscriptions.retrieve_async(sub_id)).to_dict()
        await local_stripe.client.v1.subscriptions.cancel_async(sub_id)
        stale_update = stripe_event("customer.subscription.updated", snapshot, created=1)
        deleted = stripe_event(
            "customer.subscription.deleted", {**snapshot, "status": "canceled"}, created=2
        )
        for event in (deleted, stale_update):
            answer = await post_event(local_stripe.standin.webhook_url, event)
            assert answer.status_code == 200
        await eventually(
            lambda: _with_status(bus, user, "paused"), timeout=20, what="instance paused"
        )
        now = await status(bus, user)
    assert (now.status, now.entitled) == ("canceled", False)


async def test_payment_failed_shows_past_due_then_pauses_after_grace(
    bus: NatsClient,
    nats_url: str,
    local_stripe: Stripe,
    billing: BillingFactory,
    provisioner: ProvisionerFactory,
) -> None:
    user = uuid.uuid4()
    async with billing(past_due_grace_seconds=3.0), provisioner():
        sub_id = await subscribe(bus, local_stripe, user)
        await local_stripe.post(f"/_standin/subscriptions/{sub_id}/declined_renewal")

        in_grace = await eventually(
            lambda: _status_is(bus, user, "past_due"), timeout=20, what="past_due in status"
        )
        assert in_grace.entitled
        assert in_grace.grace_until is not None
        assert await _with_status(bus, user, "running")  # still working during the grace period

        await eventually(
            lambda: _paused_for_billing(nats_url, user), timeout=20, what="paused after grace"
        )
        after = await status(bus, user)
    assert (after.status, after.entitled) == ("past_due", False)


async def _cancel_in_the_portal(bus: NatsClient, user: uuid.UUID) -> None:
    query = OpenPortal(user_id=user, return_url="http://localhost/", request_id=uuid.uuid4())
    portal = await ask(bus, query)
    async with httpx.AsyncClient() as http:
        assert "Cancel subscription" in (await http.get(portal.url)).text
        assert (await http.post(f"{portal.url}/cancel")).status_code == 303


async def _running_instances(bus: NatsClient, user: uuid.UUID) -> list[object]:
    return await _with_status(bus, user, "running")


async def _with_status(bus: NatsClient, user: uuid.UUID, wanted: str) -> list[object]:
    return [i for i in (await instances(bus, user)).items if i.status == wanted]


async def _status_is(bus: NatsClient, user: uuid.UUID, wanted: str) -> object:
    now = await status(bus, user)
    return now if now.status == wanted else None


async def _plan_is(bus: NatsClient, user: uuid.UUID, plan: str) -> object:
    now = await status(bus, user)
    return now if now.plan == plan else None


async def _announced(nats_url: str, subject: str, user: uuid.UUID) -> list[dict[str, object]]:
    found = [json.loads(m.data) for m in await stream_messages(nats_url, "EVT", subject)]
    return [e for e in found if e["user_id"] == str(user)]


async def _paused_for_billing(nats_url: str, user: uuid.UUID) -> bool:
    """The user's instance was paused, and the event says why: billing."""
    paused = [
        json.loads(m.data) for m in await stream_messages(nats_url, "EVT", "evt.instance.paused")
    ]
    return any(e["user_id"] == str(user) and e["reason"] == "billing" for e in paused)
