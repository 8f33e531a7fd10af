"""Which handler failures are retried and which are dead-lettered at once: a dependency that did
not answer (the bus, another service, the database: ``UnavailableError``) passes, so it is
retried like any transient failure; a refusal (``ConflictError``) will not change, so it is not.
An rpc whose handler fails answers 503 at once rather than leaving its caller to time out."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from claudecloud_common.bus import ensure_streams, event_subscriber, make_broker, publish
from claudecloud_common.contracts.instances import (
    GetInstance,
    InstanceRunning,
    InstanceStatus,
    InstanceSubject,
    InstanceView,
)
from claudecloud_common.errors import ConflictError, UnavailableError
from claudecloud_common.rpc import RemoteError, request, rpc_reply, rpc_subscriber
from claudecloud_common.settings import ServiceSettings
from devstack import servers
from tests.support import eventually, stream_messages

pytestmark = pytest.mark.integration  # a NATS server of its own: nothing else consumes from it


async def test_an_unavailable_dependency_is_retried_and_a_refusal_dead_lettered(
    tmp_path: Path,
) -> None:
    passes, refused = _event(), _event()
    calls: Counter[UUID] = Counter()
    handled: set[UUID] = set()

    with servers.NatsServer() as server:
        settings = ServiceSettings(data_dir=tmp_path, nats_url=server.url)
        broker = make_broker(settings)

        @event_subscriber(broker, InstanceSubject.RUNNING, settings=settings)
        async def handler(event: InstanceRunning) -> None:
            calls[event.instance_id] += 1
            if event.instance_id == refused.instance_id:
                raise ConflictError("it is already running")
            if calls[event.instance_id] < 3:
                raise UnavailableError("the provisioner did not answer in time")
            handled.add(event.instance_id)

        await broker.connect()
        await ensure_streams(broker)
        await broker.start()
        try:
            await publish(broker, passes)
            await publish(broker, refused)
            await eventually(lambda: passes.instance_id in handled, timeout=20, what="handled")
            dead = await eventually(
                lambda: stream_messages(server.url, "DLQ", "dlq.>"), what="a dead letter"
            )
        finally:
            await broker.stop()

    assert calls[passes.instance_id] == 3  # two refusals to answer, then it worked
    assert calls[refused.instance_id] == 1  # not retried: retrying would not change it
    assert [json.loads(m.data)["instance_id"] for m in dead] == [str(refused.instance_id)]


def _event() -> InstanceRunning:
    return InstanceRunning(instance_id=uuid4(), user_id=uuid4(), status=InstanceStatus.RUNNING)


async def test_an_rpc_whose_handler_fails_answers_503_at_once(tmp_path: Path) -> None:
    with servers.NatsServer() as server:
        settings = ServiceSettings(data_dir=tmp_path, nats_url=server.url)
        broker = make_broker(settings)

        @rpc_subscriber(broker, GetInstance, settings=settings)
        @rpc_reply
        async def on_get(query: GetInstance) -> InstanceView:
            raise ConnectionError(
                f"database at postgres://app:hunter2@db down ({query.instance_id})"
            )

        await broker.connect()
        await broker.start()
        try:
            started = time.monotonic()
            with pytest.raises(RemoteError) as refused:
                await request(broker, GetInstance(instance_id=uuid4()), timeout=10)
            waited = time.monotonic() - started
        finally:
            await broker.stop()

    assert (refused.value.status_code, refused.value.error) == (503, "UnavailableError")
    assert "hunter2" not in refused.value.detail  # what failed stays in this service's log
    assert waited < 5, "answered at once, not after the caller's timeout"
