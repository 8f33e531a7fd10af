"""``make run`` with billing as a newcomer finds it: the banner says Stripe is a local stand-in
and where Stripe's webhook is (a port of its own, serving nothing else), a new user is asked to
pay, "Pay" on the Checkout page makes their workstation, and cancelling in the portal pauses it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.signin import sign_in_from_log
from tests.launcher import Launch, launching
from tests.support import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    with launching(tmp_path) as start:
        yield start


async def test_the_whole_paid_flow_on_make_run_against_the_local_stripe(launch: Launch) -> None:
    launcher = launch(BILLING_ENABLED="true")
    await launcher.banner()
    assert "BILLING: local Stripe stand-in" in launcher.output
    webhook = re.search(r"Stripe webhook: +(http://localhost:\d+)/stripe/webhook", launcher.output)
    assert webhook is not None, launcher.output[-2000:]
    stripe_side = webhook.group(1).replace("localhost", "127.0.0.1")
    async with httpx.AsyncClient(base_url=stripe_side, timeout=30) as outside:
        assert (await outside.get("/stripe/webhook")).status_code == 405  # the webhook, there
        assert (await outside.get("/metrics")).status_code == 404  # and nothing else
    base = f"http://127.0.0.1:{launcher.port}"
    token = await sign_in_from_log(base, launcher.child.log, "newcomer@example.com")  # type: ignore[arg-type]

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as api:
        refused = await api.post("/instances")
        checkout = (await api.post("/billing/checkout", json={"plan": "starter"})).json()
        async with httpx.AsyncClient(timeout=30) as browser:
            page = await browser.get(checkout["url"])
            paid = await browser.post(f"{checkout['url']}/pay")
        running = await eventually(lambda: _with_status(api, "running"), timeout=30, what="running")
        portal = (await api.post("/billing/portal")).json()
        async with httpx.AsyncClient(timeout=30) as browser:
            canceled = await browser.post(f"{portal['url']}/cancel")
        await eventually(lambda: _with_status(api, "paused"), timeout=30, what="paused")
        status = (await api.get("/billing/status")).json()

    assert refused.status_code == 402
    assert "Pay" in page.text
    assert paid.status_code == 303
    assert paid.headers["location"].startswith(f"http://localhost:{launcher.port}/")
    assert len(running) == 1
    assert canceled.status_code == 303
    assert (status["status"], status["entitled"]) == ("canceled", False)


async def _with_status(api: httpx.AsyncClient, wanted: str) -> list[object]:
    return [i for i in (await api.get("/instances")).json() if i["status"] == wanted]
