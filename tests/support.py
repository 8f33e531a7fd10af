"""Helpers the tests share: waiting on conditions with a deadline, the suite's own servers and
fresh Postgres databases on it, free ports, and reading what reached the bus.

The suite never uses a server it did not start: PostgreSQL, NATS and Redis are throwaway
processes (:mod:`devstack.servers`) on free ports, each started the first time a test needs it
and stopped when the run ends (``tests/conftest.py``), or by the kernel should the run be killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import threading
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import nats
import pytest
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from devstack import Stack, free_port, servers
from devstack.engine import ROOT, docker_answers
from devstack.waiting import eventually

__all__ = [
    "SERVERS",
    "create_database",
    "drop_database",
    "eventually",
    "free_port",
    "require_docker_engine",
    "stream_messages",
]

_S = TypeVar("_S", servers.PostgresServer, servers.NatsServer, servers.RedisServer)


class SuiteServers:
    """The run's PostgreSQL, NATS and Redis: one of each, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[type[Any], Any] = {}

    def _get(self, kind: type[_S]) -> _S:
        with self._lock:
            if kind not in self._running:
                self._running[kind] = kind().__enter__()
            found: _S = self._running[kind]
            return found

    def postgres(self) -> servers.PostgresServer:
        return self._get(servers.PostgresServer)

    def nats(self) -> servers.NatsServer:
        return self._get(servers.NatsServer)

    def redis(self) -> servers.RedisServer:
        return self._get(servers.RedisServer)

    def stop_all(self) -> None:
        with self._lock:
            for server in self._running.values():
                server.stop()
            self._running.clear()


SERVERS = SuiteServers()


async def create_database(prefix: str) -> str:
    """A new, empty database on the suite's Postgres; returns its SQLAlchemy asyncpg URL."""
    server = await asyncio.to_thread(SERVERS.postgres)
    return await servers.create_database(server.url, prefix)


async def drop_database(url: str) -> None:
    await servers.drop_database(url)


async def stream_messages(nats_url: str, stream: str, subject: str) -> list[Msg]:
    """Everything ``stream`` holds on ``subject`` right now (read with an ephemeral consumer)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        if info.state.messages == 0:
            return []
        sub = await js.pull_subscribe(
            subject,
            stream=stream,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, inactive_threshold=30.0),
        )
        found: list[Msg] = []
        while True:
            try:
                batch = await sub.fetch(256, timeout=0.5)
            except TimeoutError:  # nats' own, or asyncio's when the wait ends mid-batch
                break
            found.extend(batch)
            for msg in batch:
                await msg.ack()
        await sub.unsubscribe()
        return found
    finally:
        await nc.close()


def require_docker_engine() -> None:
    """A Docker engine that answers: started with ``scripts/docker-engine.sh`` when none does,
    or a loud failure (never a skip)."""
    if not docker_answers():
        subprocess.run(["bash", str(ROOT / "scripts" / "docker-engine.sh")], check=False)
    if not docker_answers():
        pytest.fail("no Docker engine answers and scripts/docker-engine.sh could not start one")


AGENT_SECRET_FILE = "/etc/claudecloud/agent-secret"
"""Where a workstation keeps what it has of its agent's secret: a verifier and the agent's token to
the gateway (``AgentCredential``), never the secret (the provider puts it there before the
start)."""


def agent_secret_of(stack: Stack, instance_id: str | UUID) -> str:
    """The secret an instance's agent accepts while it runs, as the provisioner keeps it (in its
    database of a stack on SQLite); the machine itself has only a verifier of it."""
    database = Path(stack.config.data_dir) / "provisioner.db"
    assert database.exists(), f"the provisioner's database is not at {database}"
    with contextlib.closing(sqlite3.connect(database)) as db:
        [(secret,)] = db.execute(
            "SELECT agent_secret FROM instances WHERE id = ?", (UUID(str(instance_id)).hex,)
        ).fetchall()
    assert secret, f"no agent secret for instance {instance_id}"
    return str(secret)
