"""The Hetzner + Netbird saga on the suite's own NATS and Postgres: the real provisioner with the
hetzner provider (python-terraform driving the stand-in ``terraform`` of tests/fakes) and the real
netbird service against the fake Netbird Management API (tests/fakes/netbird.py), both in this
process unless a test runs the netbird service as its own process to kill it.

One database per service for the run; each test is isolated by its own user and instance.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from faststream import TestApp
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError
from pydantic import SecretStr

from claudecloud_common.contracts.base import Message
from claudecloud_common.contracts.instances import (
    CreateInstance,
    DestroyInstance,
    GetInstance,
    InstanceView,
)
from claudecloud_common.contracts.netbird import GetDeviceKey
from claudecloud_common.rpc import RemoteError, request_on
from devstack.processes import Child
from netbird.app import create_app as create_netbird
from netbird.settings import NetbirdSettings
from provisioner.app import create_app as create_provisioner
from provisioner.settings import ProvisionerSettings
from tests.fakes.netbird import FAKE_TOKEN, FakeNetbird, serve_fake
from tests.support import create_database, drop_database, eventually, free_port

REPO = Path(__file__).parents[2]
TERRAFORM = REPO / "tests" / "fakes" / "terraform"


@pytest.fixture(scope="session")
async def netbird_db() -> AsyncIterator[str]:
    url = await create_database("cc_netbird")
    yield url
    await drop_database(url)


@pytest.fixture(scope="session")
async def provisioner_db() -> AsyncIterator[str]:
    url = await create_database("cc_netbird_provisioner")
    yield url
    await drop_database(url)


@pytest.fixture(scope="session")
async def bus(nats_url: str) -> AsyncIterator[NatsClient]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    for stream in ("CMD", "EVT", "DLQ"):
        with contextlib.suppress(NotFoundError):  # no stale consumers or messages of others
            await js.delete_stream(stream)
    yield nc
    await nc.close()


@dataclass
class Seen:
    """Every ``evt.instance.*`` and ``evt.netbird.*`` payload since the test started."""

    events: list[dict[str, Any]] = field(default_factory=list)

    def of(self, instance_id: uuid.UUID, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e.get("instance_id") == str(instance_id) and (kind is None or e["type"] == kind)
        ]

    def types(self, instance_id: uuid.UUID) -> list[str]:
        return [e["type"] for e in self.of(instance_id)]


@dataclass
class Platform:
    """What a test drives: the bus, the fake Netbird, the Terraform workspaces."""

    bus: NatsClient
    netbird: FakeNetbird
    netbird_url: str
    workspaces: Path
    seen: Seen
    netbird_db: str

    async def send(self, command: Message) -> None:
        headers = {"Nats-Msg-Id": str(command.id)}
        await self.bus.jetstream().publish(
            str(command.subject), command.model_dump_json().encode(), headers=headers
        )

    async def create(self) -> tuple[uuid.UUID, uuid.UUID]:
        instance_id, user_id = uuid.uuid4(), uuid.uuid4()
        await self.send(CreateInstance(instance_id=instance_id, user_id=user_id))
        return instance_id, user_id

    async def destroy(self, instance_id: uuid.UUID, *, purge: bool = False) -> None:
        await self.send(DestroyInstance(instance_id=instance_id, purge=purge))

    async def instance(self, instance_id: uuid.UUID) -> InstanceView | None:
        """The instance as the provisioner answers ``rpc.instance.get``; None before it exists."""
        try:
            return await request_on(self.bus, GetInstance(instance_id=instance_id), timeout=5)
        except RemoteError as exc:
            if exc.error != "InstanceNotFound":
                raise
            return None

    async def device_key(self, instance_id: uuid.UUID, user_id: uuid.UUID) -> str:
        """A one-off key for the owner's device, as the gateway asks for it."""
        query = GetDeviceKey(instance_id=instance_id, user_id=user_id)
        found = await request_on(self.bus, query, timeout=5)
        return found.setup_key.get_secret_value()

    async def until_status(
        self, instance_id: uuid.UUID, status: str, timeout: float = 20.0
    ) -> InstanceView:
        async def reached() -> InstanceView | None:
            view = await self.instance(instance_id)
            return view if view is not None and view.status.value == status else None

        found: InstanceView = await eventually(
            reached, timeout=timeout, what=f"instance {instance_id} {status}"
        )
        return found

    def state(self, user_id: uuid.UUID) -> dict[str, Any]:
        path = self.workspaces / f"user-{user_id}" / "terraform.tfstate"
        return json.loads(path.read_text()) if path.exists() else {"resources": []}

    def servers(self, user_id: uuid.UUID) -> list[dict[str, Any]]:
        return [r for r in self.state(user_id)["resources"] if r["type"] == "hcloud_server"]


PlatformFactory = Callable[..., AbstractAsyncContextManager[Platform]]


def provisioner_settings(
    db: str, nats_url: str, workspaces: Path, data_dir: Path, **overrides: Any
) -> ProvisionerSettings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "provider": "hetzner",
        "database_url": db,
        "nats_url": nats_url,
        "hcloud_token": SecretStr("hcloud-test-token"),
        "netbird_api_token": SecretStr(FAKE_TOKEN),
        "terraform_binary": str(TERRAFORM),
        "terraform_dir": REPO / "terraform",
        "terraform_workspaces": workspaces,
        "instance_setup_script": REPO / "docker" / "instance" / "setup.sh",
        "bus_ack_wait_seconds": 3.0,
        "outbox_poll_seconds": 0.5,
        "outbox_grace_seconds": 1.0,
        "reconcile_on_start": False,
    }
    return ProvisionerSettings(**(values | overrides))


def netbird_env(db: str, nats_url: str, api_url: str, data_dir: Path) -> dict[str, str]:
    """The netbird service's settings, as its process reads them."""
    return {
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": db,
        "NATS_URL": nats_url,
        "NETBIRD_API_URL": api_url,
        "NETBIRD_API_TOKEN": FAKE_TOKEN,
        "NETBIRD_BUS_ACK_WAIT_SECONDS": "2",
        "NETBIRD_OUTBOX_POLL_SECONDS": "0.5",
        "NETBIRD_OUTBOX_GRACE_SECONDS": "1",
    }


@pytest.fixture
def platform(
    bus: NatsClient, nats_url: str, netbird_db: str, provisioner_db: str, tmp_path: Path
) -> PlatformFactory:
    """Start the fake Netbird, the provisioner (hetzner) and, unless ``netbird=False``, the
    netbird service, with settings overridden by ``provisioner={...}`` and ``netbird={...}``."""

    @asynccontextmanager
    async def start(
        *,
        netbird: bool = True,
        provisioner: dict[str, Any] | None = None,
        netbird_settings: dict[str, Any] | None = None,
    ) -> AsyncIterator[Platform]:
        workspaces = tmp_path / "workspaces"
        seen = Seen()

        async def collect(msg: Any) -> None:
            seen.events.append(json.loads(msg.data))

        subs = [
            await bus.subscribe("evt.instance.>", cb=collect),
            await bus.subscribe("evt.netbird.>", cb=collect),
        ]
        async with serve_fake() as (fake, url), contextlib.AsyncExitStack() as stack:
            settings = provisioner_settings(
                provisioner_db, nats_url, workspaces, tmp_path, **(provisioner or {})
            )
            await stack.enter_async_context(TestApp(create_provisioner(settings)))
            if netbird:
                values: dict[str, Any] = {
                    "data_dir": tmp_path,
                    "database_url": netbird_db,
                    "nats_url": nats_url,
                    "api_url": url,
                    "api_token": SecretStr(FAKE_TOKEN),
                    "bus_ack_wait_seconds": 3.0,
                    "outbox_poll_seconds": 0.5,
                    "outbox_grace_seconds": 1.0,
                }
                netbird_config = NetbirdSettings(**(values | (netbird_settings or {})))
                await stack.enter_async_context(TestApp(create_netbird(netbird_config)))
            yield Platform(bus, fake, url, workspaces, seen, netbird_db)
            for sub in subs:
                await sub.unsubscribe()

    return start


class NetbirdProcess:
    """The netbird service as its own process (``python -m netbird``), to kill it mid-saga."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        env = {**os.environ, **env, "NETBIRD_HTTP_PORT": str(self.port)}
        # A child that dies with the test run, whatever ends it (devstack.processes).
        self.child = Child("netbird", [sys.executable, "-m", "netbird"], env)

    def spawn(self) -> None:
        self.child.start()

    async def start(self) -> None:
        self.spawn()

        async def healthy() -> bool:
            assert self.child.running(), "the netbird service exited"
            try:
                async with httpx.AsyncClient() as http:
                    answer = await http.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
            except httpx.HTTPError:
                return False
            return answer.status_code == 200

        await eventually(healthy, timeout=30, what="the netbird service answering /healthz")

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self.child.kill()

    def stop(self) -> None:
        self.child.stop(timeout=15)
