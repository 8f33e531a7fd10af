"""The dashboard's Security tab in the browser, on ``make run``'s launcher (the fake provider: no
containers): the user's own activity log with where each act came from, and a webhook added to a
receiver on 127.0.0.1 whose signing secret is shown once, tested, and seen delivered."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.launcher import Launch, launching
from tests.support import eventually
from tests.webhooks.receiver import Receiver

from .conftest import Watched
from .test_billing import link_for

pytestmark = pytest.mark.e2e  # make run's launcher with the fake provider: no containers


@pytest.fixture
def launch(tmp_path: Path, web_export: str) -> Iterator[Launch]:
    with launching(tmp_path) as start:
        yield start


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    await found.start()
    yield found
    await found.stop()


async def test_the_activity_log_and_a_webhook_from_the_security_tab(
    launch: Launch, watched: Watched, receiver: Receiver
) -> None:
    launcher = launch("web-security", BILLING_ENABLED="false")
    await launcher.banner()
    base = f"http://localhost:{launcher.port}"
    page = watched.page
    email = "careful@example.com"
    await page.goto(base + "/signin/")
    await page.get_by_label("Email address").fill(email)
    await page.get_by_role("button", name="Email me a link").click()
    await page.goto(await link_for(launcher, email))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/dashboard/"))

    await page.get_by_role("tab", name="Security").click()
    log = page.get_by_test_id("audit")
    await expect(log).to_contain_text("Signed in by you")
    await expect(log).to_contain_text("127.0.0.1")

    await page.get_by_label("Endpoint URL").fill(receiver.url)
    await page.get_by_role("button", name="Add webhook").click()
    secret = page.get_by_test_id("webhook-secret")
    await expect(secret).to_contain_text("whsec_")
    shown = await secret.inner_text()
    hooks = page.get_by_test_id("webhooks")
    await expect(hooks).to_contain_text(receiver.url)
    await watched.shot("security")

    await hooks.get_by_role("button", name="Send a test").click()
    [got] = await receiver.got(1)
    assert got.signed_with(shown)
    assert got.event["type"] == "webhook.test"

    async def delivered() -> bool:  # the log as the service has recorded it by now
        await hooks.get_by_role("button", name="Deliveries").click()
        listed = hooks.get_by_role("list", name="Deliveries")
        return "delivered, 1 try" in await listed.inner_text()

    await eventually(delivered, what="the test delivery in the log")

    await page.reload()
    await expect(page.get_by_test_id("webhooks")).to_contain_text(receiver.url)
    assert shown not in await page.content()  # the secret is shown once, never again
    await expect(page.get_by_test_id("audit")).to_contain_text("Webhook added")
