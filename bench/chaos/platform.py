"""The platform under chaos: started the way ``make run`` starts it (devstack's stack, every
registered service, an embedded file-backed NATS) and kept running by ``make run``'s own
supervisor, which restarts whatever dies, NATS included (same port, same store folder)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack import Stack, docker_isolation, local_config, remove_deployment
from devstack.engine import instance_image
from devstack.signin import sign_in_from_log
from devstack.supervisor import Supervisor

from .machines import DockerMachines, FakeMachines, Machines
from .stripe import Stripe

FAST_BUS = {
    # A command whose handler died is handed out again after 3 s, not the production 30 s.
    "PROVISIONER_BUS_ACK_WAIT_SECONDS": "3",
    "OUTBOX_POLL_SECONDS": "0.5",
    "RPC_TIMEOUT_SECONDS": "5",
    "GATEWAY_ADMISSION_TIMEOUT_SECONDS": "8",
    # Many clients poll from one address; the limits are not what is under test here.
    "GATEWAY_RATE_LIMIT_API": "100000/minute",
    "GATEWAY_RATE_LIMIT_LOGIN": "1000/minute",
}


@dataclass
class Platform:
    """A running stack, its supervisor (in a thread) and what the supervisor said."""

    stack: Stack
    machines: Machines
    """The provider's side: what it holds and the calls it took."""
    stripe: Stripe | None = None
    """With billing on: the local Stripe stand-in, in a process of its own."""
    cleanup: Callable[[], None] | None = None
    """With Docker: remove this run's containers, volumes and network."""
    said: list[str] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.stack.config.port}"

    @property
    def nats_url(self) -> str:
        return self.stack.config.resolved_nats_url

    def admin(self) -> httpx.AsyncClient:
        headers = {"X-API-Key": self.stack.config.admin_api_key}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=15)

    async def start(self) -> None:
        if self.stripe is not None and self.stripe.child is None:
            webhook = self.stack.spec("billing").listener_url("WEBHOOK_PORT")
            await asyncio.to_thread(self.stripe.start, webhook)
        await asyncio.to_thread(self.stack.start)
        self._supervise()

    def _supervise(self) -> None:
        supervisor = Supervisor(self.stack, log=self._said)
        self._stopping.clear()
        self._thread = threading.Thread(
            target=supervisor.run, args=(self._stopping,), name="chaos-supervisor", daemon=True
        )
        self._thread.start()

    def _said(self, line: str) -> None:
        self.said.append(f"{time.strftime('%H:%M:%S')} {line}")

    async def restart_everything(self) -> None:
        """Stop every process (NATS too) in order and start them all again, as an operator
        would after an incident; the supervisor keeps watching afterwards."""
        self._stop_supervisor()
        await asyncio.to_thread(self.stack.stop_all)
        await self.start()

    async def stop(self) -> None:
        self._stop_supervisor()
        await asyncio.to_thread(self.stack.stop_all)
        if self.stripe is not None:
            await asyncio.to_thread(self.stripe.stop)
        if self.cleanup is not None:
            await asyncio.to_thread(self.cleanup)

    def _stop_supervisor(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    async def sign_in(self, email: str) -> tuple[str, str]:
        """A user signed in from the link in the gateway's log: (session token, user id)."""
        log_dir = self.stack.config.log_dir
        assert log_dir is not None, "the chaos platform writes each process's log to a file"
        token = await sign_in_from_log(self.base_url, log_dir / "gateway.log", email)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=self.base_url, headers=headers) as api:
            me = await api.get("/auth/me")
            me.raise_for_status()
            return token, str(me.json()["user_id"])


def make_platform(
    folder: Path, *, provider: str, database_url: str | None, billing: bool = False
) -> Platform:
    """A platform under ``folder`` (data, logs), every process on a free port; with
    ``billing``, creates need a subscription, paid on the local Stripe stand-in."""
    stripe = Stripe(folder / "logs") if billing else None
    env = FAST_BUS | (stripe.env() if stripe else {})
    if provider == "docker":
        return _on_docker(folder, database_url, env, stripe)
    config = local_config(folder, provider=provider, database_url=database_url, env=env)
    return Platform(Stack(config), FakeMachines(config.data_dir), stripe)


def _on_docker(
    folder: Path, database_url: str | None, env: dict[str, str], stripe: Stripe | None
) -> Platform:
    """Real containers, under a deployment label and network of this run's own."""
    import docker

    deployment, network, isolation = docker_isolation("chaos", instance_image())
    engine = docker.from_env(version="1.41", timeout=120)
    config = local_config(folder, provider="docker", database_url=database_url, env=env | isolation)
    return Platform(
        Stack(config),
        DockerMachines(engine, deployment),
        stripe,
        cleanup=lambda: remove_deployment(engine, deployment, network),
    )
