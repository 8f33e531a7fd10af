"""Fast tests of the gateway's own modules: the app in this process on FastStream's in-memory
broker (``TestNatsBroker``) and a SQLite file, called through httpx's ``ASGITransport`` (HTTP) or
starlette's ``TestClient`` (WebSockets). No process, server or port.

The provisioner is a stand-in on the same in-memory bus that follows its contracts (one live
instance per user, the lifecycle's legal transitions, queries over request-reply), so what is
checked is the gateway: how it asks, and what it answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from faststream.exceptions import SubscriberNotFound
from faststream.nats import NatsBroker, TestNatsBroker
from nats.errors import NoRespondersError
from starlette.testclient import TestClient

from claudecloud_common.bus import publish
from claudecloud_common.contracts.base import ErrorBody, RpcReply, utcnow
from claudecloud_common.contracts.instances import (
    LIVE_STATUSES,
    CreateInstance,
    GetInstance,
    InstanceAccepted,
    InstanceList,
    InstanceRefusal,
    InstanceRejected,
    InstanceRequested,
    InstanceRunning,
    InstanceStatus,
    InstanceSubject,
    InstanceView,
    ListInstances,
    PauseInstance,
    WakeInstance,
)
from gateway.app import create_app
from gateway.auth.service import AccountService
from gateway.settings import GatewaySettings
from gateway.state import GatewayState, app_state

JWT_SECRET = "gateway-fast-tests-" + "s" * 32
ADMIN_KEY = "admin-" + "k" * 40
BASE_URL = "http://testserver"


class InMemoryNats:
    """The NATS client calls the bus glue makes itself (core request-reply, JetStream publish,
    stream set-up), carried by FastStream's in-memory broker to the subscribers on it.

    ``claudecloud_common.bus`` publishes and asks straight on the NATS client, which
    ``TestNatsBroker`` replaces with a bare mock; this puts a client that delivers in its place.
    A JetStream publish reaches every subscriber of its subject, core and stream alike, as the
    server delivers it.
    """

    def __init__(self, broker: NatsBroker) -> None:
        self.broker = broker

    def jetstream(self, **_options: Any) -> InMemoryNats:
        return self

    async def add_stream(self, **_config: Any) -> None:
        return None

    async def update_stream(self, **_config: Any) -> None:
        return None

    async def publish(
        self, subject: str, payload: bytes = b"", *, headers: dict[str, str] | None = None, **_: Any
    ) -> None:
        await self.broker.publish(payload, subject, headers=headers)

    async def request(
        self,
        subject: str,
        payload: bytes = b"",
        *,
        timeout: float = 1.0,
        headers: dict[str, str] | None = None,
    ) -> SimpleNamespace:
        try:
            reply = await self.broker.request(payload, subject, timeout=timeout, headers=headers)
        except SubscriberNotFound as exc:
            raise NoRespondersError from exc
        return SimpleNamespace(data=reply.body)


@dataclass
class Provisioner:
    """A stand-in provisioner on the in-memory bus: it keeps instances in a dict, admits or
    refuses commands by the lifecycle's rules, and answers ``get`` and ``list``. ``hang`` makes
    it stop answering queries (a provisioner that is down or overloaded); ``garbled`` makes it
    answer them with what the contract does not allow (a bug on either side)."""

    instances: dict[UUID, InstanceView] = field(default_factory=dict)
    hang: asyncio.Event | None = None
    garbled: bool = False

    def attach(self, broker: NatsBroker) -> None:
        broker.subscriber(str(InstanceSubject.CREATE))(self.create)
        broker.subscriber(str(InstanceSubject.PAUSE))(self.pause)
        broker.subscriber(str(InstanceSubject.WAKE))(self.wake)
        broker.subscriber(str(InstanceSubject.GET))(self.get)
        broker.subscriber(str(InstanceSubject.LIST))(self.list)
        self.broker = broker

    def add(self, user_id: UUID, instance_id: UUID, status: InstanceStatus, provider: str) -> None:
        now = utcnow()
        self.instances[instance_id] = InstanceView(
            id=instance_id,
            user_id=user_id,
            status=status,
            provider=provider,
            created_at=now,
            updated_at=now,
        )

    async def create(self, command: CreateInstance) -> None:
        live = [
            v
            for v in self.instances.values()
            if v.user_id == command.user_id and v.status in LIVE_STATUSES
        ]
        if live:
            await self._reject(
                command.id,
                live[0],
                InstanceRefusal.ALREADY_EXISTS,
                f"user {command.user_id} already has instance {live[0].id}",
                existing=live[0].id,
            )
            return
        self.add(command.user_id, command.instance_id, InstanceStatus.RUNNING, "fake")
        ids = {"instance_id": command.instance_id, "user_id": command.user_id}
        await publish(
            self.broker,
            InstanceRequested(**ids, status=InstanceStatus.PROVISIONING, command_id=command.id),
        )
        await publish(self.broker, InstanceRunning(**ids, status=InstanceStatus.RUNNING))

    async def pause(self, command: PauseInstance) -> None:
        await self._transition(command.id, command.instance_id, "pause", InstanceStatus.RUNNING)

    async def wake(self, command: WakeInstance) -> None:
        await self._transition(command.id, command.instance_id, "wake", InstanceStatus.PAUSED)

    async def _transition(
        self, command_id: UUID, instance_id: UUID, verb: str, allowed_from: InstanceStatus
    ) -> None:
        view = self.instances[instance_id]
        if view.status is not allowed_from:
            detail = f"cannot {verb} instance {instance_id}: it is {view.status.value}"
            await self._reject(command_id, view, InstanceRefusal.ILLEGAL_TRANSITION, detail)
            return
        status = InstanceStatus.PAUSING if verb == "pause" else InstanceStatus.WAKING
        self.instances[instance_id] = view.model_copy(update={"status": status})
        await publish(
            self.broker,
            InstanceAccepted(
                instance_id=instance_id,
                user_id=view.user_id,
                status=status,
                command=verb,
                command_id=command_id,
            ),
        )

    async def _reject(
        self,
        command_id: UUID,
        view: InstanceView,
        error: InstanceRefusal,
        detail: str,
        *,
        existing: UUID | None = None,
    ) -> None:
        rejected = InstanceRejected(
            instance_id=view.id,
            user_id=view.user_id,
            status=view.status,
            command_id=command_id,
            command="",
            error=error,
            detail=detail,
            existing_instance_id=existing,
        )
        await publish(self.broker, rejected)

    async def get(self, query: GetInstance) -> bytes:
        if (trouble := await self._trouble()) is not None:
            return trouble
        view = self.instances.get(query.instance_id)
        if view is None:
            missing = ErrorBody(
                error="InstanceNotFound",
                detail=f"no instance with id {query.instance_id}",
                status_code=404,
            )
            return RpcReply[Any](error=missing).model_dump_json().encode()
        return RpcReply[Any](result=view).model_dump_json().encode()

    async def list(self, query: ListInstances) -> bytes:
        if (trouble := await self._trouble()) is not None:
            return trouble
        found = [
            v
            for v in sorted(self.instances.values(), key=lambda v: v.created_at, reverse=True)
            if (query.user_id is None or v.user_id == query.user_id)
            and (not query.live_only or v.status in LIVE_STATUSES)
        ]
        return RpcReply[Any](result=InstanceList(items=found)).model_dump_json().encode()

    async def _trouble(self) -> bytes | None:
        """Wait forever when hung; a reply outside the contract when garbled."""
        if self.hang is not None:
            await self.hang.wait()
        return b'{"result": {"items": "not a list"}}' if self.garbled else None


def settings_for(tmp_path: Path, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": None,
        "redis_url": None,
        "smtp_host": None,
        "base_url": BASE_URL,
        "jwt_secret": JWT_SECRET,
        "admin_api_key": ADMIN_KEY,
        "rpc_timeout_seconds": 0.5,
        "admission_timeout_seconds": 1.0,
        "instance_cache_seconds": 0.0,
        "log_level": "WARNING",
        **overrides,
    }
    return GatewaySettings(**values)


def state_of(app: FastAPI) -> GatewayState:
    return app_state(app)


@dataclass
class Gateway:
    """A gateway app on the in-memory bus, the stand-in provisioner beside it, and a client."""

    app: FastAPI
    provisioner: Provisioner
    client: httpx.AsyncClient

    @property
    def state(self) -> GatewayState:
        return state_of(self.app)

    async def sign_in(self, email: str) -> str:
        """A session token for ``email``, spent from a sign-in link as a CLI would."""
        return await session_for(self.app, self.client, email)


async def sign_in_link(app: FastAPI, email: str) -> str:
    """The link a sign-in mail would carry (made by the gateway's own account service)."""
    state = state_of(app)
    async with state.db.transaction() as session:
        accounts = AccountService(session, state.tokens, base_url=BASE_URL)
        return (await accounts.start_sign_in(email)).url


async def session_for(app: FastAPI, client: httpx.AsyncClient, email: str) -> str:
    token = httpx.URL(await sign_in_link(app, email)).params["token"]
    response = await client.post(
        "/auth/verify", json={"token": token}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 200, response.text
    session_token: str = response.json()["token"]
    return session_token


@asynccontextmanager
async def in_memory_bus(app: FastAPI) -> AsyncIterator[NatsBroker]:
    """``TestNatsBroker`` around the app's broker, with :class:`InMemoryNats` as its client."""
    broker = state_of(app).broker
    async with TestNatsBroker(broker) as test_broker:
        client = InMemoryNats(test_broker)
        test_broker.config.broker_config.connection_state.connect(client, client)  # type: ignore[arg-type]
        yield test_broker


def build(tmp_path: Path, provisioner: Provisioner, **overrides: Any) -> FastAPI:
    app = create_app(settings_for(tmp_path, **overrides))
    provisioner.attach(state_of(app).broker)
    return app


@pytest.fixture
def provisioner() -> Provisioner:
    return Provisioner()


@asynccontextmanager
async def running(
    tmp_path: Path, provisioner: Provisioner, **overrides: Any
) -> AsyncIterator[Gateway]:
    """A gateway (settings ``overrides`` applied) started and served in this event loop."""
    app = build(tmp_path, provisioner, **overrides)
    async with in_memory_bus(app), app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # as a server does
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield Gateway(app, provisioner, client)


@pytest.fixture
async def gateway(tmp_path: Path, provisioner: Provisioner) -> AsyncIterator[Gateway]:
    async with running(tmp_path, provisioner) as started:
        yield started


@contextmanager
def serving(app: FastAPI) -> Iterator[TestClient]:
    """Starlette's client (for WebSockets): the app and its lifespan in the client's own thread."""
    with TestClient(app, base_url=BASE_URL) as client:
        yield client
