"""A newcomer in a real browser: the landing page, sign-in through the mail, a workstation that
comes up while they watch, its terminal, chat with Claude (the stand-in), a project cloned over
HTTP and opened in chat, pause and wake."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import httpx
from playwright.async_api import Page, expect

from tests.git_server import serve_repository
from tests.gateway.workspace.conftest import SESSION_SETUP, SHELL_PANE, exec_in
from tests.support import eventually

from .conftest import Platform, Watched

RUNNING_WITHIN_MS = 120_000


async def sign_in(platform: Platform, page: Page, email: str) -> None:
    """As a person: the sign-in form, the link from the mail, the button on the link's page."""
    await page.goto(f"{platform.base_url}/signin/")
    await page.get_by_label("Email address").fill(email)
    await page.get_by_role("button", name="Email me a link").click()
    await expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    link = await platform.mail.next_link(email, timeout=30)
    await page.goto(link)  # opening the link spends nothing ...
    button = page.get_by_role("button", name="Sign in")
    await expect(button).to_be_enabled()
    assert "token=" not in page.url  # the link's secret leaves the address bar and history
    await button.click()  # ... the button does
    await page.wait_for_url(re.compile(r"/dashboard/"))


async def agent_answers(platform: Platform, page: Page, user_id: str) -> None:
    """Wait, outside the page, until a woken instance's agent answers (the provisioner says
    running as soon as the machine is; the agent takes a moment more)."""
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    async with httpx.AsyncClient(base_url=platform.base_url, cookies=cookies) as client:
        instances = (await client.get("/instances")).json()
        path = f"/instances/{instances[0]['id']}/projects"

        async def answered() -> bool:
            return (await client.get(path)).status_code == 200

        await eventually(answered, timeout=60, what=f"{user_id}'s agent answering")


async def test_landing_and_sign_in_pages(platform: Platform, watched: Watched) -> None:
    page = watched.page
    await page.goto(platform.base_url + "/")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("cloud workstation")
    await expect(page.get_by_text("Billing is not set up")).to_be_visible()  # billing off here
    await watched.shot("landing")

    await page.get_by_role("link", name="Get started").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await watched.shot("signin")

    await page.goto(platform.base_url + "/dashboard/")  # not signed in: sent to sign in
    await page.wait_for_url(re.compile(r"/signin/$"))


async def test_pages_carry_their_policy_and_assets_are_cached(platform: Platform) -> None:
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        page = await client.get("/dashboard/")
        script = re.search(r'src="(/_next/static/[^"]+\.js)"', page.text)
        assert script, page.text[:500]
        asset = await client.get(script.group(1))
        api = await client.get("/instances")  # the API keeps its own answers
    policy = page.headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in policy
    assert "'unsafe-eval'" not in policy
    assert "script-src 'self' 'unsafe-inline'" not in policy
    assert "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["cache-control"] == "no-cache"
    assert asset.status_code == 200
    assert "immutable" in asset.headers["cache-control"]
    assert api.status_code == 401
    assert api.headers["content-type"].startswith("application/json")


async def test_a_newcomer_works_on_a_workstation(
    platform: Platform, watched: Watched, tmp_path: Path
) -> None:
    page = watched.page
    email = f"web-{uuid.uuid4().hex[:8]}@example.com"
    await sign_in(platform, page, email)
    await expect(page.get_by_text(email)).to_be_visible()

    # Create: the status turns running without a reload
    started = time.monotonic()
    await page.get_by_role("button", name="Create workstation").click()
    status = page.get_by_test_id("instance-status")
    await expect(status).to_contain_text(re.compile("Creating|Running"))
    await expect(status).to_have_text("Running", timeout=RUNNING_WITHIN_MS)
    print(f"create → running seen in the browser: {time.monotonic() - started:.1f} s")
    await expect(page.get_by_role("button", name="Pause")).to_be_enabled()
    await expect(page.get_by_role("button", name="Wake")).to_be_disabled()
    await expect(page.get_by_label("Connect command")).to_contain_text("claude-cloud connect")
    why = page.get_by_role("region", name="Why is it still running?")
    await expect(why).to_contain_text("Freezes when idle")  # docker keeps memory: idle freezes
    await watched.shot("overview-running")

    user_id = (await page.evaluate("fetch('/auth/me').then(r => r.json())"))["user_id"]
    container = platform.engine.containers.get(f"claude-{user_id}")
    code, output = exec_in(container, f"{SESSION_SETUP} ensure && tmux select-pane -t {SHELL_PANE}")
    assert code == 0, output

    # Terminal: type a command, see its output
    await page.get_by_role("tab", name="Terminal").click()
    await expect(page.get_by_test_id("terminal-state")).to_contain_text("Connected")
    await page.get_by_test_id("terminal").click()
    await page.keyboard.type("echo web-$((6 * 7))\n")
    await expect(page.locator(".xterm-rows")).to_contain_text("web-42")
    await watched.shot("terminal")

    # The agent dies (the instance's supervisor starts it again): the terminal reconnects by
    # itself, and tmux draws the same screen again on a cleared terminal
    code, output = exec_in(container, "pkill -f 'python -m agent'")
    assert code == 0, output
    state = page.get_by_test_id("terminal-state")
    await expect(state).not_to_have_text("Connected", timeout=15_000)
    await expect(state).to_have_text("Connected", timeout=60_000)
    await expect(page.locator(".xterm-rows")).to_contain_text("web-42")

    # Chat: the stand-in claude streams a reply
    code, output = exec_in(
        container, "mkdir -p ~/.claude && echo '{}' > ~/.claude/.credentials.json"
    )
    assert code == 0, output
    await page.get_by_role("tab", name="Chat").click()
    await expect(page.get_by_test_id("chat-state")).to_contain_text("Connected")
    await page.get_by_label("Message to Claude").fill("hello from the browser")
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_test_id("reply").first).to_contain_text(
        "You said: hello from the browser",
        timeout=30_000,  # the first turn starts Claude's process
    )
    await expect(page.get_by_test_id("chat-state")).to_have_text("Connected")
    await watched.shot("chat")

    # The chat continues the folder's conversation: after a reload it is shown first, and Claude
    # remembers it; New conversation leaves it
    await page.reload()
    await page.get_by_role("tab", name="Chat").click()
    await expect(page.get_by_test_id("earlier").first).to_have_text("hello from the browser")
    await expect(page.get_by_test_id("continuing")).to_contain_text("continues this conversation")
    await expect(page.get_by_test_id("chat-state")).to_have_text("Connected")
    await page.get_by_label("Message to Claude").fill("and again")
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_test_id("reply").first).to_contain_text(
        "I remember you said before: hello from the browser"
    )
    await expect(page.get_by_test_id("chat-state")).to_have_text("Connected")
    await page.get_by_role("button", name="New conversation").click()
    await expect(page.get_by_test_id("earlier")).to_have_count(0)
    await page.get_by_label("Message to Claude").fill("fresh start")
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_test_id("reply").first).to_contain_text("You said: fresh start")
    await expect(page.get_by_test_id("reply").first).not_to_contain_text("I remember")

    # Projects: clone over HTTP (a bad URL is refused first), open it in chat
    with serve_repository(tmp_path, "webdemo") as server:
        network = platform.engine.networks.get(platform.network)
        host = network.attrs["IPAM"]["Config"][0]["Gateway"]
        await page.get_by_role("tab", name="Projects").click()
        url = page.get_by_label("Repository URL")
        await url.fill("file:///etc/passwd")
        await page.get_by_role("button", name="Clone").click()
        await expect(page.get_by_text("Only http, https, ssh and git URLs")).to_be_visible()
        await url.fill(server.url(host))
        await page.get_by_role("button", name="Clone").click()
        await expect(page.get_by_text("Cloned into")).to_be_visible(timeout=60_000)
    projects = page.get_by_test_id("projects")
    await expect(projects).to_contain_text("webdemo")
    await watched.shot("projects")
    await page.get_by_role("button", name="Open webdemo in Chat").click()
    await expect(page.get_by_label("Working folder")).to_have_value("webdemo")
    await expect(page.get_by_test_id("chat-state")).to_contain_text("Connected")
    await page.get_by_label("Message to Claude").fill("run a tool here")
    await page.get_by_role("button", name="Send").click()
    tool = page.locator("details.tool").first
    await expect(tool).to_contain_text("Bash")
    await tool.locator("summary").click()  # folded until opened
    await expect(tool).to_contain_text("cwd=/claude-data/webdemo")
    await page.get_by_label("Message to Claude").fill("be slow")
    await page.get_by_role("button", name="Send").click()
    await page.get_by_role("button", name="Stop").click()  # interrupts the turn
    await expect(page.get_by_test_id("transcript")).to_contain_text("Stopped")
    await expect(page.get_by_role("button", name="Send")).to_be_visible()

    # Pause and wake, confirmed, followed live (the tabs move with the arrow keys)
    await page.get_by_role("tab", name="Chat").focus()
    await page.keyboard.press("ArrowLeft")
    terminal_tab = page.get_by_role("tab", name="Terminal")
    await expect(terminal_tab).to_have_attribute("aria-selected", "true")
    await expect(terminal_tab).to_be_focused()
    await page.get_by_role("tab", name="Overview").click()
    await page.get_by_role("button", name="Pause").click()
    await page.get_by_role("dialog").get_by_role("button", name="Pause").click()
    await expect(status).to_have_text("Frozen", timeout=RUNNING_WITHIN_MS)
    await expect(page.get_by_role("button", name="Wake")).to_be_enabled()
    await page.get_by_role("button", name="Wake").click()
    await page.get_by_role("dialog").get_by_role("button", name="Wake").click()
    await expect(status).to_have_text("Running", timeout=RUNNING_WITHIN_MS)
    await page.get_by_role("button", name="Stop").click()
    await page.get_by_role("dialog").get_by_role("button", name="Stop").click()
    await expect(status).to_have_text("Paused", timeout=RUNNING_WITHIN_MS)
    # Opening the terminal on a stopped workstation wakes it, and says so first
    await page.get_by_role("tab", name="Terminal").click()
    await expect(page.locator(".xterm-rows")).to_contain_text(
        "your workstation is stopped", timeout=RUNNING_WITHIN_MS
    )
    await expect(page.get_by_test_id("terminal-state")).to_contain_text("Connected")
    await page.get_by_role("tab", name="Overview").click()
    await expect(status).to_have_text("Running", timeout=RUNNING_WITHIN_MS)
    await agent_answers(platform, page, user_id)

    # On a phone: nothing wider than the screen
    await page.set_viewport_size({"width": 390, "height": 844})
    for tab in ("Terminal", "Chat", "Projects", "Overview"):
        await page.get_by_role("tab", name=tab).click()
        if tab == "Projects":
            await expect(page.get_by_test_id("projects")).to_contain_text("webdemo")
        overflow = await page.evaluate("document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 0, f"{tab} is {overflow}px wider than a phone"
    await watched.shot("phone-overview")

    # Destroy, after Cancel first keeps it: then the card offers a new workstation
    await page.set_viewport_size({"width": 1280, "height": 860})
    await page.get_by_role("button", name="Destroy").click()
    await page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    await expect(status).to_have_text("Running")
    await page.get_by_role("button", name="Destroy").click()
    await page.get_by_role("dialog").get_by_role("button", name="Destroy").click()
    await expect(page.get_by_text("You have no workstation yet.")).to_be_visible(
        timeout=RUNNING_WITHIN_MS
    )
    await expect(page.get_by_role("button", name="Create workstation")).to_be_enabled()
