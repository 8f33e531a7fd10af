"""One trace follows a create across the services it crosses: the gateway's request, the command
on the bus, the provisioner's work, and the events back to the gateway; and a paid create from
Stripe's webhook through billing to the provisioner."""

from __future__ import annotations

from typing import Any

import httpx

from devstack.otlp import ReceivedSpan, collector
from devstack.signin import sign_in_from_log
from tests.support import eventually

from .conftest import client_for
from .support import wait_for_status


async def test_a_create_is_one_trace_across_gateway_and_provisioner(stack_factory: Any) -> None:
    async with collector() as spans:
        stack = await stack_factory(None, OTEL_EXPORTER_OTLP_ENDPOINT=spans.url)
        async with client_for(stack) as api:
            created = await api.post(
                "/instances", json={"user_id": "6b0f3c1e-1d7a-4c55-9f0e-0d1b2c3d4e5f"}
            )
            assert created.status_code == 202, created.text
            instance_id = created.json()["id"]
            await wait_for_status(api, instance_id, "running")

        def the_trace() -> list[ReceivedSpan]:
            request = next(
                (s for s in spans.spans if s.service == "gateway" and s.name == "POST /instances"),
                None,
            )
            if request is None:
                return []
            found = spans.trace(request.trace_id)
            names = {(s.service, s.name) for s in found}
            wanted = {
                ("provisioner", "instance.create"),
                ("gateway", "evt.instance.running process"),
            }
            return found if wanted <= names else []

        found = await eventually(the_trace, timeout=30, what="one trace across both services")

    order = [s.service for s in found]
    assert order[0] == "gateway"  # the request starts it
    first_provisioner = order.index("provisioner")
    assert "gateway" in order[first_provisioner:]  # and its events come back to the gateway
    work = next(s for s in found if s.name == "instance.create")
    assert work.attributes["instance.id"] == instance_id
    by_id = {s.span_id: s for s in found}
    assert all(s.parent_id in by_id for s in found[1:] if s.parent_id), "one tree, no orphans"


async def test_a_paid_create_is_one_trace_from_stripes_webhook_to_the_provisioner(
    stack_factory: Any,
) -> None:
    async with collector() as spans:
        stack = await stack_factory(
            None,
            OTEL_EXPORTER_OTLP_ENDPOINT=spans.url,
            BILLING_ENABLED="true",
            BILLING_STRIPE_STANDIN="true",
        )
        base = f"http://127.0.0.1:{stack.config.port}"
        assert stack.config.log_dir is not None
        token = await sign_in_from_log(base, stack.config.log_dir / "gateway.log", "pays@ex.com")
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=auth, timeout=30) as api:
            checkout = await api.post("/billing/checkout", json={"plan": "starter"})
            assert checkout.status_code == 200, checkout.text
            async with httpx.AsyncClient(timeout=30) as browser:
                paid = await browser.post(f"{checkout.json()['url']}/pay")
            assert paid.status_code == 303

        def the_trace() -> list[ReceivedSpan]:
            for webhook in (s for s in spans.spans if s.name == "billing.webhook"):
                found = spans.trace(webhook.trace_id)
                if ("provisioner", "instance.create") in {(s.service, s.name) for s in found}:
                    return found
            return []

        found = await eventually(the_trace, timeout=30, what="one trace from webhook to create")

    order = [s.service for s in found]
    assert order[0] == "billing"  # Stripe's delivery starts it
    assert "provisioner" in order[1:]
    webhook = found[0]
    assert webhook.name == "billing.webhook"
    assert webhook.attributes["stripe.event_type"] == "checkout.session.completed"
    assert webhook.attributes["billing.webhook.outcome"] == "accepted"
    create = next(s for s in found if s.name == "instance.create")
    assert create.attributes["user.id"]
    by_id = {s.span_id: s for s in found}
    assert all(s.parent_id in by_id for s in found[1:] if s.parent_id), "one tree, no orphans"
