"""A query names where it is asked and what answers it: ``request(broker, query)`` returns that
answer, typed, or raises (a refusal, nobody listening, an answer outside the contract); it never
hands back ``None`` for the caller to assert away."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest
from faststream.nats import NatsBroker

from claudecloud_common.bus import make_broker
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.instances import (
    GetInstance,
    InstanceStatus,
    InstanceView,
    ListInstances,
)
from claudecloud_common.errors import NotFoundError
from claudecloud_common.rpc import (
    NobodyAnswers,
    RemoteError,
    UnexpectedReply,
    request,
    rpc_reply,
    rpc_subscriber,
)
from claudecloud_common.settings import ServiceSettings
from devstack import servers

pytestmark = pytest.mark.integration  # a NATS server of its own


class InstanceNotFound(NotFoundError):
    pass


def _view(instance_id: object) -> InstanceView:
    now = utcnow()
    return InstanceView(
        id=instance_id,
        user_id=uuid4(),
        status=InstanceStatus.RUNNING,
        provider="fake",
        created_at=now,
        updated_at=now,
    )


async def _started(broker: NatsBroker) -> None:
    await broker.connect()
    await broker.start()


async def test_a_query_is_answered_on_its_subject_with_its_own_type(tmp_path: Path) -> None:
    known = uuid4()
    with servers.NatsServer() as server:
        settings = ServiceSettings(data_dir=tmp_path, nats_url=server.url)
        broker = make_broker(settings)

        @rpc_subscriber(broker, GetInstance, settings=settings)
        @rpc_reply
        async def on_get(query: GetInstance) -> InstanceView:
            if query.instance_id != known:
                raise InstanceNotFound(f"no instance with id {query.instance_id}")
            return _view(query.instance_id)

        await _started(broker)
        try:
            found = await request(broker, GetInstance(instance_id=known), timeout=5)
            with pytest.raises(RemoteError) as refused:
                await request(broker, GetInstance(instance_id=uuid4()), timeout=5)
        finally:
            await broker.stop()

    assert type(found) is InstanceView
    assert found.id == known
    assert (refused.value.error, refused.value.status_code) == ("InstanceNotFound", 404)


async def test_an_answer_outside_the_contract_or_nobody_listening_raises(tmp_path: Path) -> None:
    with servers.NatsServer() as server:
        broker = make_broker(ServiceSettings(data_dir=tmp_path, nats_url=server.url))

        @broker.subscriber(str(GetInstance.subject))
        async def empty(_query: GetInstance) -> bytes:  # a buggy responder: neither half
            return b'{"result": null, "error": null}'

        await _started(broker)
        try:
            with pytest.raises(UnexpectedReply, match="neither result nor error"):
                await request(broker, GetInstance(instance_id=uuid4()), timeout=5)
            with pytest.raises(NobodyAnswers, match="instance service does not answer") as none:
                await request(broker, ListInstances(), timeout=5)
        finally:
            await broker.stop()
    assert none.value.error == "UnavailableError"  # what callers' error bodies say, as before
