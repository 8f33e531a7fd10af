"""Fast tests of the gateway's own modules: the app in this process on FastStream's in-memory
broker (``TestNatsBroker``) and a SQLite file, called through httpx's ``ASGITransport`` (HTTP) or
starlette's ``TestClient`` (WebSockets). No process, server or port.

The provisioner beside it is the real one (:mod:`tests.provisioner_app`, fake machines, its own
SQLite file) on the same in-memory bus, so the lifecycle's rules are its own; only a provisioner
that fails (hangs, answers outside its contract) is a stand-in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI
from faststream import TestApp
from faststream.asgi import AsgiFastStream
from faststream.exceptions import SubscriberNotFound
from faststream.nats import NatsBroker, TestNatsBroker
from nats.errors import NoRespondersError
from starlette.testclient import TestClient

from claudecloud_common.bus import publish
from claudecloud_common.contracts.instances import (
    CreateInstance,
    DestroyInstance,
    GetInstance,
    InstanceCommand,
    InstanceStatus,
    ListInstances,
    PauseInstance,
)
from gateway.app import create_app
from gateway.auth.service import AccountService
from gateway.settings import GatewaySettings
from gateway.state import GatewayState, app_state
from provisioner.app import create_app as create_provisioner
from tests.provisioner_app import provisioner_settings
from tests.support import eventually

JWT_SECRET = "gateway-fast-tests-" + "s" * 32
ADMIN_KEY = "admin-" + "k" * 40
BASE_URL = "http://testserver"
ADMIN = {"X-API-Key": ADMIN_KEY}


class InMemoryNats:
    """The NATS client calls the bus glue makes itself (core request-reply, JetStream publish,
    stream set-up), carried by FastStream's in-memory broker to the subscribers of every broker
    under the same ``TestNatsBroker`` (the gateway's and the provisioner's).

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


PROVISIONER_QUERIES = (GetInstance, ListInstances)


@dataclass
class BrokenProvisioner:
    """In the provisioner's place, a fault: queries that wait forever (``hang``: down or
    overloaded) or answers the contract does not allow (``garbled``: a bug on either side).
    It keeps no instances and applies no rule: tests of what the gateway does with instances
    run the real provisioner (:func:`running`)."""

    hang: bool = False
    garbled: bool = False

    def attach(self, broker: NatsBroker) -> None:
        for query in PROVISIONER_QUERIES:
            broker.subscriber(str(query.subject))(self.answer)

    async def answer(self, _query: dict[str, Any]) -> bytes:
        if self.hang:
            await asyncio.Event().wait()
        return b'{"result": {"items": "not a list"}}'


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
    """A gateway app on the in-memory bus, the provisioner beside it, and a client."""

    app: FastAPI
    client: httpx.AsyncClient

    @property
    def state(self) -> GatewayState:
        return state_of(self.app)

    async def sign_in(self, email: str) -> str:
        """A session token for ``email``, spent from a sign-in link as a CLI would."""
        return await session_for(self.app, self.client, email)

    async def instance(self, owner: UUID, status: InstanceStatus = InstanceStatus.RUNNING) -> UUID:
        """A new instance of ``owner``'s, brought to ``status`` (running, paused or destroyed)
        by the provisioner's own commands and rules, as an operator would."""
        instance_id = uuid4()
        await self._command(CreateInstance(instance_id=instance_id, user_id=owner))
        await self._reaches(instance_id, InstanceStatus.RUNNING)
        then: dict[InstanceStatus, InstanceCommand] = {
            InstanceStatus.PAUSED: PauseInstance(instance_id=instance_id),
            InstanceStatus.DESTROYED: DestroyInstance(instance_id=instance_id),
        }
        if status is not InstanceStatus.RUNNING:
            await self._command(then[status])
            await self._reaches(instance_id, status)
        return instance_id

    async def status(self, instance_id: UUID) -> InstanceStatus:
        """The instance's status, as an operator reads it through the gateway."""
        response = await self.client.get(f"/instances/{instance_id}", headers=ADMIN)
        assert response.status_code == 200, response.text
        return InstanceStatus(response.json()["status"])

    async def _command(self, command: InstanceCommand) -> None:
        await publish(self.state.broker, command)

    async def _reaches(self, instance_id: UUID, status: InstanceStatus) -> None:
        async def reached() -> bool:
            return await self.status(instance_id) is status

        await eventually(reached, what=f"instance {instance_id} {status.value}")


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
async def in_memory_bus(app: FastAPI, *peers: NatsBroker) -> AsyncIterator[NatsBroker]:
    """``TestNatsBroker`` around the app's broker and the ``peers`` (other services' brokers),
    each with :class:`InMemoryNats` as its client: what one publishes, the others receive."""
    brokers = (state_of(app).broker, *peers)
    async with TestNatsBroker(*brokers):
        for broker in brokers:
            client = InMemoryNats(broker)
            broker.config.broker_config.connection_state.connect(client, client)  # type: ignore[arg-type]
        yield brokers[0]


def build(tmp_path: Path, broken: BrokenProvisioner | None = None, **overrides: Any) -> FastAPI:
    """The gateway app (``overrides`` to its settings), a broken provisioner beside it if given."""
    app = create_app(settings_for(tmp_path, **overrides))
    if broken is not None:
        broken.attach(state_of(app).broker)
    return app


def provisioner_app(tmp_path: Path) -> AsgiFastStream:
    """The real provisioner (fake machines) with its own SQLite file, for the in-memory bus."""
    data_dir = tmp_path / "provisioner"
    settings = provisioner_settings(
        database_url=f"sqlite+aiosqlite:///{data_dir / 'provisioner.db'}",
        nats_url="nats://in-memory.invalid:4222",  # never dialled: its broker is in memory
        data_dir=data_dir,
        check_interval_seconds=0,
        reconcile_on_start=False,
    )
    return create_provisioner(settings)


@asynccontextmanager
async def running(
    tmp_path: Path, broken: BrokenProvisioner | None = None, **overrides: Any
) -> AsyncIterator[Gateway]:
    """A gateway (settings ``overrides`` applied) started and served in this event loop, with
    the real provisioner beside it on the in-memory bus, or ``broken`` in its place."""
    app = build(tmp_path, broken, **overrides)
    async with started(app, tmp_path, provisioner=broken is None) as gateway:
        yield gateway


@asynccontextmanager
async def started(
    app: FastAPI, tmp_path: Path, *, provisioner: bool = True
) -> AsyncIterator[Gateway]:
    """``app`` started and served in this event loop, the real provisioner beside it."""
    async with AsyncExitStack() as stack:
        if provisioner:
            peer = provisioner_app(tmp_path)
            assert isinstance(peer.broker, NatsBroker)
            await stack.enter_async_context(in_memory_bus(app, peer.broker))
            await stack.enter_async_context(TestApp(peer))
        else:
            await stack.enter_async_context(in_memory_bus(app))
        await stack.enter_async_context(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # as a server does
        client = httpx.AsyncClient(transport=transport, base_url=BASE_URL)
        await stack.enter_async_context(client)
        yield Gateway(app, client)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with running(tmp_path) as started:
        yield started


@contextmanager
def serving(app: FastAPI) -> Iterator[TestClient]:
    """Starlette's client (for WebSockets): the app and its lifespan in the client's own thread."""
    with TestClient(app, base_url=BASE_URL) as client:
        yield client
