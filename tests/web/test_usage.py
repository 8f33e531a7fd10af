"""The usage page in the browser, on ``make run``'s launcher with billing on (the local Stripe
stand-in): a paying user's hours this period, Claude's spend beside them with who bills it, and
the budget card; no console errors; the screenshot is kept in ``web/screenshots/usage.png``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import nats
import pytest
from playwright.async_api import expect

from claudecloud_common.contracts.spend import ClaudeSource, ClaudeSpendDay, ClaudeSpendReported
from devstack import free_port
from devstack.engine import ROOT
from tests.launcher import Launch, launching
from tests.support import eventually

from .conftest import Watched
from .test_billing import link_for

pytestmark = pytest.mark.e2e  # make run's launcher with the fake provider: no containers

SCREENSHOT = ROOT / "web" / "screenshots" / "usage.png"


@pytest.fixture
def launch(tmp_path: Path, web_export: str) -> Iterator[Launch]:
    with launching(tmp_path) as start:
        yield start


async def report_claude(nats_port: int, user_id: str, instance_id: str, usd: float) -> None:
    """What activity sends when an agent's chat spend grew (the fake provider runs no agent)."""
    event = ClaudeSpendReported(
        user_id=uuid.UUID(user_id),
        instance_id=uuid.UUID(instance_id),
        days=[
            ClaudeSpendDay(
                day=datetime.now(UTC).date(),
                source=ClaudeSource.CHAT,
                cost_usd=usd,
                input_tokens=1200,
                output_tokens=340,
                turns=3,
            )
        ],
    )
    connection = await nats.connect(f"nats://127.0.0.1:{nats_port}")
    try:
        headers = {"Nats-Msg-Id": str(event.id), "content-type": "application/json"}
        await connection.jetstream().publish(
            str(event.subject), event.model_dump_json().encode(), headers=headers
        )
    finally:
        await connection.close()


async def test_the_usage_page_shows_hours_claude_and_the_budget(
    launch: Launch, watched: Watched
) -> None:
    nats_port = free_port()
    launcher = launch("web-usage", BILLING_ENABLED="true", NATS_PORT=str(nats_port))
    await launcher.banner(timeout=240)  # every service of make run on a shared machine
    base = f"http://localhost:{launcher.port}"
    page = watched.page

    await page.goto(base + "/signin/?plan=starter")
    email = "usage@example.com"
    await page.get_by_label("Email address").fill(email)
    await page.get_by_role("button", name="Email me a link").click()
    await page.goto(await link_for(launcher, email))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/dashboard/"))
    await (
        page.get_by_role("region", name="Choose a plan")
        .get_by_role("button", name="Choose Starter")
        .click()
    )
    await page.wait_for_url(lambda url: not url.startswith(base))
    parts = urlsplit(page.url)
    watched.vendors.add(f"{parts.scheme}://{parts.netloc}")
    await page.get_by_role("button", name="Pay").click()
    await page.wait_for_url(re.compile(r"/dashboard/"))  # back on the dashboard, not the landing
    await expect(page.get_by_test_id("instance-status")).to_have_text("Running", timeout=60_000)

    me = await (await page.request.get(base + "/auth/me")).json()
    instances = await (await page.request.get(base + "/instances")).json()
    await report_claude(nats_port, me["user_id"], instances[0]["id"], 1.25)

    await page.get_by_role("tab", name="Usage").click()
    await expect(page.get_by_test_id("hours-summary")).to_contain_text(
        re.compile(r"h used of \d+ included \(starter\)")
    )
    await expect(page.get_by_role("img", name=re.compile("Hours a day"))).to_be_visible()
    await expect(page.get_by_test_id("claude-label")).to_contain_text(
        "Billed by Anthropic to your own key"
    )

    async def claude_shown() -> bool:  # billing files the report on its own time
        await page.reload()
        total = page.get_by_test_id("claude-total")
        await total.wait_for()
        return "$1.25" in (await total.text_content() or "")

    await eventually(claude_shown, timeout=30, what="Claude's spend on the usage page")
    await expect(page.get_by_test_id("overage")).to_contain_text("Overage so far: $0.00")

    await page.get_by_label("Monthly budget (US dollars)").fill("50")
    await page.get_by_label("Pause my workstation when it is spent (hard stop)").check()
    await page.get_by_role("button", name="Set budget").click()
    summary = page.get_by_test_id("budget-summary")
    await expect(summary).to_contain_text("of $50.00 this period")
    await expect(summary).to_contain_text("hard stop")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOT), full_page=True)

    await page.get_by_role("button", name="Clear budget").click()
    await expect(page.get_by_text("No budget set.")).to_be_visible()
