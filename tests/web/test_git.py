"""Connecting GitHub from the dashboard in a real browser: the Projects tab's "Connect GitHub"
goes to (a local) GitHub's authorization page and back through the OAuth web flow, then lists
the user's repositories and clones a private one with a click; a forged ``state`` connects
nothing and says so; the overview shows the workstation's SSH key."""

from __future__ import annotations

import re
import uuid

from playwright.async_api import expect

from .conftest import Platform, Watched
from .test_dashboard import agent_answers, sign_in


async def test_connect_github_and_clone_a_private_repository(
    platform: Platform, watched: Watched
) -> None:
    github, git = platform.github, platform.git
    assert github is not None
    assert git is not None
    watched.vendors.add(github.base_url)  # GitHub's own page: its console is its own
    page = watched.page
    await sign_in(platform, page, f"git-web-{uuid.uuid4().hex[:8]}@example.com")
    await page.get_by_role("button", name="Create workstation").click()
    status = page.get_by_test_id("instance-status")
    await expect(status).to_have_text("Running", timeout=120_000)
    user_id = (await page.evaluate("fetch('/auth/me').then(r => r.json())"))["user_id"]
    await agent_answers(platform, page, user_id)

    # The overview shows the workstation's SSH key, made on its first start.
    await expect(page.get_by_test_id("ssh-key")).to_contain_text("ssh-ed25519 ", timeout=30_000)

    # Projects: Connect GitHub → GitHub's page (signed in there as octocat) → Authorize → back.
    await page.get_by_role("tab", name="Projects").click()
    github.signed_in = "octocat"
    await page.get_by_role("button", name="Connect GitHub").click()
    await page.wait_for_url(re.compile(re.escape(github.base_url) + "/login/oauth/authorize"))
    await watched.shot("github-authorize")
    await page.get_by_role("button", name="Authorize").click()
    await page.wait_for_url(re.compile(r"/dashboard/#projects$"))

    await expect(
        page.get_by_role("status").filter(has_text="Connected GitHub as octocat.")
    ).to_be_visible()
    await expect(page.get_by_test_id("git-account")).to_contain_text("octocat")
    await expect(page.get_by_test_id("git-account")).to_contain_text("scopes: repo")
    repositories = page.get_by_test_id("repositories")
    await expect(repositories).to_contain_text("octocat/plans")
    await expect(repositories).to_contain_text("private · main")
    await watched.shot("github-connected")

    # One click: the workstation's git asks the platform for the token, the clone succeeds.
    await page.get_by_role("button", name="Clone octocat/plans").click()
    await expect(page.get_by_test_id("projects")).to_contain_text("plans", timeout=120_000)
    await expect(repositories.get_by_text("Cloned")).to_be_visible()
    assert [r.login for r in git.requests if r.status == 200] == ["octocat"] * len(
        [r for r in git.requests if r.status == 200]
    )
    await watched.shot("github-cloned")
    page_text = await page.content()
    assert not any(token in page_text for token in github.every_token())


async def test_a_forged_state_is_refused_in_the_browser(
    platform: Platform, watched: Watched
) -> None:
    page = watched.page
    await sign_in(platform, page, f"forged-{uuid.uuid4().hex[:8]}@example.com")
    await page.get_by_role("button", name="Create workstation").click()
    await expect(page.get_by_test_id("instance-status")).to_have_text("Running", timeout=120_000)

    # A link someone sent: GitHub's callback with a state this browser never began.
    await page.goto(f"{platform.base_url}/me/git/github/callback?code=abc123&state=forged-state")
    await page.wait_for_url(re.compile(r"/dashboard/"))

    alert = page.get_by_role("alert").filter(has_text="GitHub was not connected")
    await expect(alert).to_contain_text("begun by someone else or in another browser")
    await expect(page.get_by_role("button", name="Connect GitHub")).to_be_visible()
