"""A client as a real one behaves under failures: it retries on 503 and on a connection that
broke (the gateway died, or answered nothing in time), and makes its retries safe. A create
carries an ``Idempotency-Key`` (the same key again is the same instance); a pause, wake or
destroy retried after an answer that never came may find its own earlier attempt admitted,
which the instance's status then says (409 naming a state the command leads to)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import httpx

from devstack.waiting import eventually

RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_FOR_SECONDS = 120.0
"""How long a client keeps retrying one request before it gives up (and says so)."""

TRANSITIONS: dict[str, tuple[str, str, str, str, dict[str, Any] | None]] = {
    # command: (method, path suffix, state on the way, state it ends in, body)
    "create": ("POST", "", "provisioning", "running", None),
    "freeze": ("POST", "/pause", "pausing", "frozen", {"keep_memory": True}),
    "pause": ("POST", "/pause", "pausing", "paused", {"keep_memory": False}),
    "wake": ("POST", "/wake", "waking", "running", None),
    "destroy": ("DELETE", "", "destroying", "destroyed", None),
}
LIFECYCLE = ("create", "freeze", "wake", "pause", "wake", "destroy")
"""Each lifecycle freezes and thaws, then stops and starts, its instance."""


class GaveUp(Exception):
    """A request kept failing for :data:`RETRY_FOR_SECONDS`."""


@dataclass
class Command:
    """One command a client sent, and what became of it."""

    kind: str
    user_id: str
    instance_id: str | None = None
    accepted: bool = False
    completed: bool = False
    attempts: int = 0
    how: str = ""
    """``paid``: a create by paying (billing asks for the instance once Stripe says the
    payment is in); ``cancel``: a pause by canceling the subscription (billing asks for it)."""
    outcome: str = ""
    """Why it did not complete: the refusal, the status it ended in, or the timeout."""
    seconds: float = 0.0


@dataclass
class ClientStats:
    retries: int = 0
    commands: list[Command] = field(default_factory=list)


class ChaosClient:
    """One signed-in user's client: lifecycles one after another, each command retried."""

    def __init__(self, base_url: str, token: str, user_id: str, *, settle: float) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(15, connect=3),
        )
        self.user_id = user_id
        self.settle = settle
        """How long a command may take to reach its final state before it counts as lost."""
        self.stats = ClientStats()

    async def close(self) -> None:
        await self.http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, int]:
        """The first answer that is not worth retrying, and how many tries it took."""
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        for attempt in range(1, 10_000):
            try:
                response = await self.http.request(method, path, **kwargs)
                if response.status_code not in RETRY_STATUSES:
                    return response, attempt
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise GaveUp(f"{method} {path}: no answer but retry-able ones for 120s")
            self.stats.retries += 1
            # A client's backoff between tries (with jitter), not a wait on a condition.
            await asyncio.sleep(min(0.2 * 2 ** min(attempt, 4), 3.0) * random.uniform(0.5, 1.0))
        raise GaveUp(f"{method} {path}: too many tries")

    async def status(self, instance_id: str) -> str | None:
        response, _ = await self.request("GET", f"/instances/{instance_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        status: str = response.json()["status"]
        return status

    async def lifecycle(self, *, paid: bool = False, cancel: bool = False) -> bool:
        """Create (``paid``: by paying on Stripe's Checkout page, billing then asks for it),
        freeze, wake, stop, wake (``cancel``: then cancel the subscription, billing pauses
        it), destroy; False when one command did not complete (the rest of this lifecycle is
        then abandoned, its instance destroyed if it can be)."""
        instance_id: str | None = None
        steps = [*LIFECYCLE[:-1], *(["cancel"] if cancel else []), LIFECYCLE[-1]]
        for step in steps:
            kind = "pause" if step == "cancel" else step
            how = "paid" if paid and kind == "create" else "cancel" if step == "cancel" else ""
            command = await self.run(kind, instance_id, how=how)
            instance_id = command.instance_id
            if not command.completed:
                if instance_id is not None and kind != "destroy":
                    await self.clean_up(instance_id)
                return False
        return True

    async def run(self, kind: str, instance_id: str | None, *, how: str = "") -> Command:
        command = Command(kind, self.user_id, instance_id, how=how)
        self.stats.commands.append(command)
        started = time.monotonic()
        send = {"paid": self._pay, "cancel": self._cancel}.get(how, self._send)
        try:
            await send(command)
            if command.accepted and command.instance_id is not None:
                await self._settle(command)
        except (GaveUp, httpx.HTTPStatusError) as exc:
            command.outcome = f"{type(exc).__name__}: {exc}"
        command.seconds = time.monotonic() - started
        return command

    async def _send(self, command: Command) -> None:
        method, suffix, via, to, body = TRANSITIONS[command.kind]
        if command.kind == "create":
            headers = {"Idempotency-Key": f"chaos-{uuid4()}"}
            response, command.attempts = await self.request(
                method, "/instances", json={}, headers=headers
            )
        else:
            path = f"/instances/{command.instance_id}{suffix}"
            response, command.attempts = await self.request(method, path, json=body)
        if response.status_code == 202:
            command.accepted = True
            command.instance_id = str(response.json()["id"])
        elif response.status_code == 409 and command.attempts > 1:
            # An earlier try was admitted before its answer was lost: the status shows it.
            assert command.instance_id is not None
            now = await self.status(command.instance_id)
            command.accepted = now in (via, to)
            command.outcome = "" if command.accepted else f"409 on retry, status {now}"
        else:
            command.outcome = f"{response.status_code} {response.text[:200]}"

    async def _pay(self, command: Command) -> None:
        """Choose a plan, pay on the Checkout page; accepted once Stripe took the payment, its
        instance the live one billing asked for."""
        headers = {"Idempotency-Key": f"chaos-{uuid4()}"}
        body = {"plan": "starter"}
        response, command.attempts = await self.request(
            "POST", "/billing/checkout", json=body, headers=headers
        )
        if response.status_code != 200:
            command.outcome = f"checkout: {response.status_code} {response.text[:200]}"
            return
        async with httpx.AsyncClient(timeout=15) as browser:  # Stripe's page: never killed
            paid = await browser.post(f"{response.json()['url']}/pay")
        if paid.status_code != 303:
            command.outcome = f"pay: {paid.status_code} {paid.text[:200]}"
            return
        command.accepted = True
        found: list[str] = []

        async def asked_for() -> bool:
            try:
                listed, _ = await self.request("GET", "/instances")
            except GaveUp:
                return False
            live = [i["id"] for i in listed.json() if i["status"] not in ("destroyed", "failed")]
            found[:] = live
            return bool(live)

        with contextlib.suppress(AssertionError):
            await eventually(asked_for, timeout=self.settle, interval=0.25, what="paid instance")
        command.instance_id = found[0] if found else None
        if command.instance_id is None:
            command.outcome = "paid, but no instance was asked for"
            command.accepted, command.completed = True, False

    async def _cancel(self, command: Command) -> None:
        """Cancel the subscription in Stripe's billing portal; accepted once Stripe took it."""
        headers = {"Idempotency-Key": f"chaos-{uuid4()}"}
        response, command.attempts = await self.request("POST", "/billing/portal", headers=headers)
        if response.status_code != 200:
            command.outcome = f"portal: {response.status_code} {response.text[:200]}"
            return
        async with httpx.AsyncClient(timeout=15) as browser:  # Stripe's page: never killed
            canceled = await browser.post(f"{response.json()['url']}/cancel")
        command.accepted = canceled.status_code == 303
        if not command.accepted:
            command.outcome = f"cancel: {canceled.status_code} {canceled.text[:200]}"

    async def _settle(self, command: Command) -> None:
        assert command.instance_id is not None
        instance_id, to = command.instance_id, TRANSITIONS[command.kind][3]
        last: list[str | None] = [None]

        async def settled() -> bool:
            try:
                last[0] = await self.status(instance_id)
            except GaveUp:
                return False  # the gateway is still down: keep asking until the deadline
            return last[0] in (to, "failed")

        with contextlib.suppress(AssertionError):
            await eventually(settled, timeout=self.settle, interval=0.25, what="final state")
        command.completed = last[0] == to
        if not command.completed:
            command.outcome = f"ended {last[0]} (wanted {to})"

    async def clean_up(self, instance_id: str) -> None:
        """After a lifecycle broke: destroy its instance so the next create is not refused."""
        await self.run("destroy", instance_id)  # counted like any other command
