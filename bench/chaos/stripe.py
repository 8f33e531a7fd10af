"""Stripe for a chaos run with billing on: the local stand-in in a process of its own (Stripe is
another company's machine: the chaos never kills it, and billing's deaths do not wipe its
state), and Stripe's retries of webhooks that found billing down."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from pathlib import Path

import httpx

from devstack import Child, free_port
from devstack.stack import wait_for_health

RETRY_EVERY_SECONDS = 2.0
CANCELED = "customer.subscription.deleted"


class Stripe:
    def __init__(self, folder: Path) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.secret = "whsec_chaos_" + uuid.uuid4().hex
        self.folder = folder
        self.child: Child | None = None
        self.resent = 0

    def env(self) -> dict[str, str]:
        """What billing (and the gateway, for checkout) need to use this Stripe."""
        return {
            "BILLING_ENABLED": "true",
            "BILLING_STRIPE_API_BASE": self.url,
            "BILLING_STRIPE_SECRET_KEY": "sk_test_chaos",
            "BILLING_STRIPE_WEBHOOK_SECRET": self.secret,
            "BILLING_SWEEP_SECONDS": "5",
        }

    def start(self, webhook_url: str) -> None:
        host, port = self.url.removeprefix("http://").split(":")
        argv = [sys.executable, "-m", "billing.standin", "--host", host, "--port", port]
        argv += ["--webhook-url", webhook_url, "--webhook-secret", self.secret]
        self.child = Child("stripe-standin", argv, os.environ, log=self.folder / "stripe.log")
        self.child.start()
        wait_for_health(f"{self.url}/_standin/healthz", timeout=30, child=self.child)

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()

    async def retry_webhooks(self, done: asyncio.Event) -> None:
        """As Stripe does: an event whose last delivery was not answered 2xx is sent again.
        localstripe's own events (a canceled subscription) keep no record of their delivery:
        each is sent once more through the stand-in, which does (billing keeps one of each)."""
        headers = {"Authorization": "Bearer sk_test_chaos"}
        passed: set[str] = set()
        async with httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10) as stripe:
            while not done.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), timeout=RETRY_EVERY_SECONDS)
                last: dict[str, int] = {}
                for delivery in (await stripe.get("/_standin/deliveries")).json()["data"]:
                    last[delivery["event"]] = delivery["status"]
                own = await stripe.get("/v1/events", params={"type": CANCELED, "limit": 100})
                for event in own.json()["data"]:
                    if event["id"] not in last and event["id"] not in passed:
                        last[event["id"]] = 0
                        passed.add(event["id"])
                for event, status in last.items():
                    if not 200 <= status < 300:
                        await stripe.post(f"/_standin/events/{event}/resend")
                        self.resent += 1
