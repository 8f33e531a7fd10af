"""Users' endpoints hearing of their workstation, on a real NATS and PostgreSQL: signed as Stripe
signs, the same event id on every try, retried with backoff until the window closes and then
turned off (its owner told), redirects not followed, a rotated secret signing beside the new
one for a while, and someone else's endpoint out of reach."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.subscription import Subscription

from claudecloud_common.contracts.audit import AuditKind, AuditSubject
from claudecloud_common.contracts.base import Query
from claudecloud_common.contracts.instances import InstancePaused, InstanceStatus
from claudecloud_common.contracts.webhooks import (
    DeleteEndpoint,
    DeliveryStatus,
    EndpointStatus,
    ListEndpoints,
    RotateSecret,
    SendTest,
    WebhookSubject,
)
from claudecloud_common.rpc import RemoteError, request_on
from tests.support import eventually

from .conftest import Replica, deliveries, publish, register, running
from .receiver import Receiver


async def test_a_receiver_on_127_0_0_1_gets_instance_running_with_a_valid_signature(
    bus: NatsClient, replica: Replica, receiver: Receiver
) -> None:
    user, stranger = uuid.uuid4(), uuid.uuid4()
    async with replica():
        endpoint = await register(bus, user, receiver.url, ["instance.running"])
        event = running(user)
        await publish(bus, running(stranger))  # someone else's workstation: not told
        paused = InstancePaused(
            instance_id=event.instance_id, user_id=user, status=InstanceStatus.PAUSED
        )
        await publish(bus, paused)  # not subscribed to: not told
        await publish(bus, event)
        [got] = await receiver.got(1)
        # The receiver has its answer before the service writes down that it was delivered.
        log = await eventually(lambda: _settled(bus, user, endpoint.id), what="delivery recorded")
    secret = endpoint.secret.get_secret_value()
    assert got.signed_with(secret)
    assert not got.signed_with(secret + "x")
    assert abs(got.timestamp - time.time()) < 60
    body = got.event
    assert body["id"] == str(event.id) == got.headers["claudecloud-event-id"]
    assert body["type"] == "instance.running"
    assert body["data"] == {
        "instance_id": str(event.instance_id),
        "status": "running",
        "woken": False,
    }
    assert "host" not in json.dumps(body)  # the agent's address is the platform's business
    assert [(d.status, d.attempts) for d in log.items] == [(DeliveryStatus.DELIVERED, 1)]
    assert len(receiver.received) == 1


async def _settled(bus: NatsClient, user: uuid.UUID, endpoint: uuid.UUID) -> object:
    """The endpoint's delivery log once its first delivery is no longer pending."""
    log = await deliveries(bus, user, endpoint)
    return log if log.items and log.items[0].status != DeliveryStatus.PENDING else None


async def test_a_receiver_that_answers_500_twice_gets_the_same_event_id_a_third_time(
    bus: NatsClient, replica: Replica, receiver: Receiver
) -> None:
    receiver.answer(500, 500, 200)
    user = uuid.uuid4()
    async with replica():
        endpoint = await register(bus, user, receiver.url)
        event = running(user)
        await publish(bus, event)
        tries = await receiver.got(3)

        log = await eventually(lambda: _settled(bus, user, endpoint.id), what="delivery recorded")
    assert [t.headers["claudecloud-event-id"] for t in tries] == [str(event.id)] * 3
    assert [t.event["id"] for t in tries] == [str(event.id)] * 3
    assert len({t.body for t in tries}) == 1  # the same bytes every time
    assert [t.headers["claudecloud-delivery-attempt"] for t in tries] == ["1", "2", "3"]
    assert all(t.signed_with(endpoint.secret.get_secret_value()) for t in tries)
    [delivery] = log.items
    assert (delivery.attempts, delivery.last_status_code) == (3, 200)


async def test_an_endpoint_failing_for_the_whole_window_is_disabled_and_its_owner_told(
    bus: NatsClient, replica: Replica, receiver: Receiver
) -> None:
    receiver.answer(503)
    user = uuid.uuid4()
    disabled = await bus.subscribe(str(WebhookSubject.ENDPOINT_DISABLED))
    audited = await bus.subscribe(str(AuditSubject.RECORDED))
    async with replica(retry_window_seconds=1.0):
        endpoint = await register(bus, user, receiver.url)
        await publish(bus, running(user))

        async def turned_off() -> object:
            [found] = (await request_on(bus, ListEndpoints(user_id=user), timeout=10)).items
            return found if found.status == EndpointStatus.DISABLED else None

        found = await eventually(turned_off, what="the endpoint disabled")
        told = await _next_about(disabled, str(endpoint.id))
        recorded = await _next_about(audited, str(endpoint.id))
        log = await deliveries(bus, user, endpoint.id)
        tries = len(receiver.received)
        await publish(bus, running(user))  # nothing more goes to a disabled endpoint
        query = SendTest(user_id=user, endpoint_id=endpoint.id)
        test = await request_on(bus, query, timeout=10)

        async def test_given_up() -> object:
            log = await deliveries(bus, user, endpoint.id)
            found = [d for d in log.items if d.event_id == test.event_id]
            return found[0] if found and found[0].status == DeliveryStatus.FAILED else None

        given_up = await eventually(test_given_up, what="the test to a disabled endpoint failed")
    assert "503" in (found.disabled_reason or "")
    assert told["user_id"] == str(user)
    assert told["url"] == receiver.url
    assert recorded["kind"] == AuditKind.WEBHOOK_DISABLED.value
    assert recorded["user_id"] == str(user)
    assert tries >= 2  # retried before giving up
    assert log.items[0].status == DeliveryStatus.FAILED
    assert len(receiver.received) == tries
    assert given_up.attempts == 1  # not retried: nothing can change by waiting
    assert "disabled" in (given_up.last_error or "")


async def _next_about(subscription: Subscription, endpoint_id: str) -> dict[str, Any]:
    """The next message on ``subscription`` that names the endpoint."""
    while True:
        message = await subscription.next_msg(timeout=20)
        body: dict[str, Any] = json.loads(message.data)
        if endpoint_id in json.dumps(body):
            return body


async def test_a_redirect_is_not_followed(
    bus: NatsClient, replica: Replica, receiver: Receiver
) -> None:
    elsewhere = Receiver()
    await elsewhere.start()
    receiver.answer((302, {"Location": elsewhere.url}))
    user = uuid.uuid4()
    try:
        async with replica(retry_window_seconds=0.5):
            endpoint = await register(bus, user, receiver.url)
            await publish(bus, running(user))

            async def given_up() -> object:
                log = await deliveries(bus, user, endpoint.id)
                done = log.items and log.items[0].status == DeliveryStatus.FAILED
                return log.items[0] if done else None

            delivery = await eventually(given_up, what="the redirected delivery given up")
    finally:
        await elsewhere.stop()
    assert elsewhere.received == []
    assert delivery.last_status_code == 302
    assert "redirects are not followed" in (delivery.last_error or "")


async def test_after_a_rotation_both_secrets_sign_until_the_old_one_expires(
    bus: NatsClient, replica: Replica, receiver: Receiver
) -> None:
    user = uuid.uuid4()
    async with replica(rotation_grace_seconds=3600):
        endpoint = await register(bus, user, receiver.url)
        rotated = await request_on(
            bus, RotateSecret(user_id=user, endpoint_id=endpoint.id), timeout=10
        )
        await request_on(bus, SendTest(user_id=user, endpoint_id=endpoint.id), timeout=10)
        [got] = await receiver.got(1)
    old, new = endpoint.secret.get_secret_value(), rotated.secret.get_secret_value()
    assert old != new
    assert got.signatures == 2
    assert got.signed_with(old)
    assert got.signed_with(new)
    assert got.event["type"] == "webhook.test"
    assert rotated.previous_secret_expires_at is not None
    async with replica(rotation_grace_seconds=0):
        again = await request_on(
            bus, RotateSecret(user_id=user, endpoint_id=endpoint.id), timeout=10
        )
        await request_on(bus, SendTest(user_id=user, endpoint_id=endpoint.id), timeout=10)
        _, latest = await receiver.got(2)
    assert latest.signatures == 1
    assert latest.signed_with(again.secret.get_secret_value())
    assert not latest.signed_with(new)


async def test_someone_elses_endpoint_looks_missing(
    bus: NatsClient, replica: Replica, receiver: Receiver
) -> None:
    owner, other = uuid.uuid4(), uuid.uuid4()
    async with replica():
        endpoint = await register(bus, owner, receiver.url)
        queries: list[Query[Any]] = [
            DeleteEndpoint(user_id=other, endpoint_id=endpoint.id),
            SendTest(user_id=other, endpoint_id=endpoint.id),
            RotateSecret(user_id=other, endpoint_id=endpoint.id),
        ]
        for query in queries:
            with pytest.raises(RemoteError) as refused:
                await request_on(bus, query, timeout=10)
            assert (refused.value.status_code, refused.value.error) == (404, "EndpointNotFound")
        theirs = await request_on(bus, ListEndpoints(user_id=other), timeout=10)
        mine = await request_on(bus, ListEndpoints(user_id=owner), timeout=10)
    assert theirs.items == []
    assert [e.id for e in mine.items] == [endpoint.id]
    assert "secret" not in mine.items[0].model_dump()


async def test_an_unknown_event_type_is_refused_with_the_choices(
    bus: NatsClient, replica: Replica, receiver: Receiver
) -> None:
    async with replica():
        with pytest.raises(RemoteError) as refused:
            await register(bus, uuid.uuid4(), receiver.url, ["instance.exploded"])
        budget = await register(bus, uuid.uuid4(), receiver.url, ["instance.budget_*"])
    assert refused.value.error == "UnknownEventType"
    assert "instance.idle_warning" in refused.value.detail
    assert budget.events == ["instance.budget_*"]
