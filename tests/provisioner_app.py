"""The real provisioner app in this test's process (migrations, streams, outbox relay,
subscribers) on the suite's servers (or the gateway tests' in-memory bus), fake machines and
quick bus timings: the one way tests of other services (and of the provisioner's bus) start it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from faststream import TestApp

from provisioner.app import create_app
from provisioner.settings import ProvisionerSettings

ProvisionerFactory = Callable[..., AbstractAsyncContextManager[ProvisionerSettings]]
"""``async with provisioner(**settings) as settings:`` runs it with those settings changed."""


def provisioner_settings(
    *, database_url: str, nats_url: str, data_dir: Path, **values: Any
) -> ProvisionerSettings:
    """The provisioner's settings in tests: fake machines, quick bus timings, ``values`` over."""
    defaults: dict[str, Any] = {
        "data_dir": data_dir,
        "provider": "fake",
        "database_url": database_url,
        "nats_url": nats_url,
        "bus_ack_wait_seconds": 3.0,
        "outbox_poll_seconds": 0.5,
        "outbox_grace_seconds": 1.0,
    }
    return ProvisionerSettings(**(defaults | values))


def provisioner_factory(
    database_url: str, nats_url: str, data_dir: Path, **defaults: Any
) -> ProvisionerFactory:
    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[ProvisionerSettings]:
        where: dict[str, Any] = dict(
            database_url=database_url, nats_url=nats_url, data_dir=data_dir
        )
        settings = provisioner_settings(**(where | defaults | overrides))
        async with TestApp(create_app(settings)):
            yield settings

    return start
