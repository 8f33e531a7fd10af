"""The platform under chaos: started the way ``make run`` starts it (devstack's stack, every
registered service, an embedded file-backed NATS) and kept running by ``make run``'s own
supervisor, which restarts whatever dies, NATS included (same port, same store folder)."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack import Stack, local_config
from devstack.signin import sign_in_from_log
from devstack.supervisor import Supervisor

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
    stripe: Stripe | None = None
    """With billing on: the local Stripe stand-in, in a process of its own."""
    said: list[str] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.stack.config.port}"

    @property
    def nats_url(self) -> str:
        return self.stack.config.resolved_nats_url

    @property
    def data_dir(self) -> Path:
        return self.stack.config.data_dir

    def admin(self) -> httpx.AsyncClient:
        headers = {"X-API-Key": self.stack.config.admin_api_key}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=15)

    async def start(self) -> None:
        if self.stripe is not None and self.stripe.child is None:
            webhook = f"http://127.0.0.1:{self.stack.spec('billing').http_port}/stripe/webhook"
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
    config = local_config(folder, provider=provider, database_url=database_url, env=env)
    return Platform(Stack(config), stripe)
