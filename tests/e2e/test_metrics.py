"""Each running service's ``/metrics`` after real work, scraped as Prometheus would: a create
through the gateway, a command that can only be dead-lettered, an event on a subject with an id
in it, Stripe's webhook signed and forged. What moved, with which labels; no id anywhere; every
service exposing exactly what ``docs/metrics.md`` lists for it, named by the rules."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import nats
import pytest

from billing.standin import sign
from billing.stripe_api import STRIPE_API_VERSION
from devstack import Stack
from tests.common.metrics_rules import Exposed, documented, exposed, problems
from tests.support import eventually

from .conftest import client_for
from .support import wait_for_status

WEBHOOK_SECRET = "whsec_metrics_e2e"
Scrapes = dict[str, dict[str, Exposed]]


@pytest.fixture(scope="module")
async def platform(stack_factory: Any) -> Stack:
    stack: Stack = await stack_factory(None, BILLING_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    return stack


async def scrape(stack: Stack) -> Scrapes:
    """Every service's ``/metrics``, by service name."""
    found: Scrapes = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for spec in stack.config.services:
            # The gateway's port is public: its metrics need the operator key.
            key = {"Authorization": f"Bearer {stack.config.admin_api_key}"}
            answer = await http.get(
                f"http://127.0.0.1:{spec.http_port}/metrics",
                headers=key if spec.service.public else {},
            )
            assert answer.status_code == 200, (spec.name, answer.text)
            found[spec.service.name] = exposed(answer.text)
    return found


def value(family: Exposed | None, suffix: str = "", **labels: str) -> float:
    """The sum of ``family``'s samples named ``<family><suffix>`` whose labels include
    ``labels`` (0 when there are none)."""
    if family is None:
        return 0.0
    wanted = family.name + suffix
    return sum(
        number
        for name, sample_labels, number in family.samples
        if name == wanted and labels.items() <= sample_labels.items()
    )


async def test_a_create_is_counted_by_route_on_the_gateway_and_by_subject_on_the_bus(
    platform: Stack,
) -> None:
    user_id = str(uuid.uuid4())
    async with client_for(platform) as api:
        created = await api.post("/instances", json={"user_id": user_id})
        assert created.status_code == 202, created.text
        instance_id = created.json()["id"]
        await wait_for_status(api, instance_id, "running")

    async def moved() -> Scrapes | None:
        found = await scrape(platform)
        gateway, provisioner = found["gateway"], found["provisioner"]
        ok = (
            value(gateway["claudecloud_http_requests_total"], **_post_instances()) >= 1
            and value(
                gateway["claudecloud_http_requests_total"],
                method="GET",
                route="/instances/{instance_id}",
                status="200",
            )
            >= 1
            and value(
                provisioner["claudecloud_bus_messages_total"],
                subject="cmd.instance.create",
                outcome="ok",
            )
            >= 1
            and value(provisioner["claudecloud_instances"], status="running", condition="none") >= 1
            and value(gateway["claudecloud_bus_messages_total"], subject="evt.instance.running")
            >= 1
        )
        return found if ok else None

    found = await eventually(moved, timeout=30, what="the create counted on every side")
    gateway = found["gateway"]
    assert (
        value(
            gateway["claudecloud_http_request_duration_seconds"],
            "_count",
            method="POST",
            route="/instances",
        )
        >= 1
    )
    for service, families in found.items():
        text = repr(families)
        assert instance_id not in text, service
        assert user_id not in text, service


def _post_instances() -> dict[str, str]:
    return {"method": "POST", "route": "/instances", "status": "202"}


async def test_a_dead_letter_is_counted_by_subject_and_an_id_in_a_subject_is_no_label(
    platform: Stack,
) -> None:
    before = await scrape(platform)
    stray_id = str(uuid.uuid4())
    stray = f"evt.instance.{stray_id}"
    connection = await nats.connect(platform.config.resolved_nats_url)
    try:
        js = connection.jetstream()
        await js.publish("cmd.instance.create", json.dumps({"nonsense": True}).encode())
        await js.publish(stray, b"{}")
    finally:
        await connection.close()

    def dead(found: Scrapes, service: str, subject: str) -> float:
        family = found[service]["claudecloud_bus_dead_letters_total"]
        return value(family, subject=subject)

    async def counted() -> Scrapes | None:
        found = await scrape(platform)
        ok = dead(found, "provisioner", "cmd.instance.create") > dead(
            before, "provisioner", "cmd.instance.create"
        ) and dead(found, "activity", "other") > dead(before, "activity", "other")
        return found if ok else None

    found = await eventually(counted, timeout=30, what="both dead letters counted")
    provisioner = found["provisioner"]["claudecloud_bus_messages_total"]
    assert value(provisioner, subject="cmd.instance.create", outcome="dead_lettered") >= 1
    assert all(stray_id not in repr(families) for families in found.values())


def stripe_event(event_type: str) -> bytes:
    return json.dumps(
        {
            "id": f"evt_metrics_{uuid.uuid4().hex[:16]}",
            "object": "event",
            "api_version": STRIPE_API_VERSION,
            "created": int(time.time()),
            "data": {"object": {"id": f"cus_{uuid.uuid4().hex[:12]}", "object": "customer"}},
            "livemode": False,
            "type": event_type,
        }
    ).encode()


async def test_stripe_webhooks_are_counted_by_outcome(platform: Stack) -> None:
    url = platform.spec("billing").listener_url("WEBHOOK_PORT")
    outcomes = ("ignored", "duplicate", "bad_signature", "refused")
    before = (await scrape(platform))["billing"]["claudecloud_billing_webhooks_total"]
    payload = stripe_event("customer.created")
    json_type = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=10) as http:
        for secret, status in ((WEBHOOK_SECRET, 200), (WEBHOOK_SECRET, 200), ("whsec_x", 400)):
            signed = {**json_type, "Stripe-Signature": sign(payload, secret)}
            answer = await http.post(url, content=payload, headers=signed)
            assert answer.status_code == status, answer.text
        assert (await http.get(url)).status_code == 405

    billing = (await scrape(platform))["billing"]
    webhooks = billing["claudecloud_billing_webhooks_total"]
    for outcome in outcomes:
        assert value(webhooks, outcome=outcome) == value(before, outcome=outcome) + 1, outcome
    requests = billing["claudecloud_http_requests_total"]
    assert value(requests, method="POST", route="/stripe/webhook", status="400") >= 1
    assert value(requests, method="POST", route="/stripe/webhook", status="200") >= 2


async def test_every_service_exposes_what_the_table_lists_for_it_by_the_rules(
    platform: Stack,
) -> None:
    table = documented()
    found = await scrape(platform)
    assert set(found) >= {"gateway", "provisioner", "billing", "activity"}
    for service, families in found.items():
        ours = {name for name in families if name.startswith("claudecloud_")}
        listed = {name for name, row in table.items() if service in row.services}
        assert ours == listed, service
        assert problems(families) == [], service
        for name in ours:
            assert families[name].type == table[name].type, name
            assert families[name].labels <= table[name].labels, name
