"""Billing in the browser, on ``make run``'s launcher against the local Stripe stand-in: the
landing page shows the plans, a new user must choose one before a workstation can be made, pays on
the stand-in's Checkout page, and comes back to a dashboard where the workstation appears."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import expect

from tests.launcher import Launch, Launcher, launching
from tests.support import eventually

from .conftest import Watched

pytestmark = pytest.mark.e2e  # make run's launcher with the fake provider: no containers

_LINK = re.compile(r"https?://\S+/auth/verify\?token=[\w.\-%]+")


@pytest.fixture
def launch(tmp_path: Path, web_export: str) -> Iterator[Launch]:
    with launching(tmp_path) as start:
        yield start


async def link_for(launcher: Launcher, email: str) -> str:
    """The sign-in link the gateway logged (make run sends no mail without SMTP settings)."""

    def logged() -> str | None:
        for line in launcher.output.splitlines():
            found = _LINK.search(line)
            if found and email in line:
                return found.group(0)
        return None

    link: str = await eventually(logged, timeout=30, what=f"the sign-in link for {email}")
    return link


async def test_choose_a_plan_pay_and_the_workstation_appears(
    launch: Launch, watched: Watched
) -> None:
    launcher = launch("web-billing", BILLING_ENABLED="true")
    await launcher.banner()
    base = f"http://localhost:{launcher.port}"  # BASE_URL: Checkout comes back here
    page = watched.page

    await page.goto(base + "/")
    starter = page.get_by_role("region", name="Starter")
    await expect(starter).to_contain_text("hours included")
    await watched.shot("landing-plans")
    await starter.get_by_role("link", name="Choose Starter").click()

    email = "payer@example.com"
    await page.get_by_label("Email address").fill(email)
    await page.get_by_role("button", name="Email me a link").click()
    await expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    await page.goto(await link_for(launcher, email))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/dashboard/"))

    await expect(page.get_by_role("button", name="Create workstation")).to_be_disabled()
    choose = page.get_by_role("region", name="Choose a plan")
    await watched.shot("choose-a-plan")
    await choose.get_by_role("button", name="Choose Starter").click()
    await page.wait_for_url(lambda url: not url.startswith(base))
    parts = urlsplit(page.url)
    watched.vendors.add(f"{parts.scheme}://{parts.netloc}")
    await watched.shot("checkout")
    await page.get_by_role("button", name="Pay").click()

    await page.wait_for_url(re.compile(r"/dashboard/"))
    status = page.get_by_test_id("instance-status")
    await expect(status).to_have_text("Running", timeout=60_000)
    await expect(page.get_by_role("region", name="Plan")).to_contain_text("starter")
    await watched.shot("paid-overview")
