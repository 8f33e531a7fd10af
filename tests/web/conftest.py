"""The dashboard in a real browser: Debian's chromium driven by Playwright, against the whole
platform on real containers (docker provider, the tests' stand-in ``claude``), the dashboard's
static export served by the gateway, and sign-in mail caught by a real SMTP server.

Every page a test opens fails the test on any console error or uncaught page error; each test
leaves screenshots in ``.data/test-artefacts/web/`` (``WEB_ARTEFACTS`` moves them).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest
from aiosmtpd.controller import Controller
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from devstack import Stack, docker_isolation, local_config, remove_deployment
from tests.support import require_docker_engine
from devstack.engine import ROOT, STANDIN_IMAGE, docker_answers
from devstack.stack import free_port
from devstack.web import ensure_web
from tests.fakes.git_http import GitServer
from tests.fakes.github import FakeGitHub
from tests.gateway.git.conftest import git_settings
from tests.mail import MailCatcher
from tests.gateway.workspace.conftest import build_standin_image

CHROMIUM = Path("/usr/bin/chromium")
ARTEFACTS = Path(os.environ.get("WEB_ARTEFACTS", ROOT / ".data" / "test-artefacts" / "web"))

pytestmark = pytest.mark.timeout(600)


@dataclass
class Platform:
    stack: Stack
    base_url: str
    mail: MailCatcher
    engine: docker.DockerClient
    network: str
    github: FakeGitHub | None = None
    """The local GitHub the gateway's git provider is (tests/web/test_git.py)."""
    git: GitServer | None = None


@dataclass
class Watched:
    """A page whose console errors and uncaught errors are kept, and its screenshots taken."""

    page: Page
    name: str
    errors: list[str] = field(default_factory=list)
    shots: int = 0
    vendors: set[str] = field(default_factory=set)
    """Origins of other people's pages the test passes through (the local Stripe's Checkout):
    their console is theirs."""

    async def shot(self, what: str) -> Path:
        self.shots += 1
        path = ARTEFACTS / f"{self.name}-{self.shots:02d}-{what}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture(scope="session")
def web_export() -> str:
    """The dashboard's export, built (``web/build.sh``) when missing or stale."""
    built = ensure_web()
    if built is None:
        pytest.fail("the dashboard could not be built: web/build.sh said why (Node.js 20.9+, npm)")
    return built


@pytest.fixture(scope="session")
def smtp() -> Iterator[tuple[MailCatcher, int]]:
    catcher = MailCatcher()
    port = free_port()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    yield catcher, port
    controller.stop()


@pytest.fixture(scope="session")
def web_github(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FakeGitHub, GitServer]]:
    """A local GitHub and its git server (containers reach it as host.docker.internal)."""
    github = FakeGitHub(device_interval=1)
    github.add_user("octocat", "The Octocat")
    server = GitServer(github, tmp_path_factory.mktemp("web-git"))
    with server.serve(), github.serve():
        github.git_base = f"http://host.docker.internal:{server.port}"
        server.create("octocat", "plans")
        yield github, server


@pytest.fixture(scope="session")
def web_engine() -> Iterator[docker.DockerClient]:
    require_docker_engine()
    build_standin_image()
    client = docker.from_env(version="1.41", timeout=120)
    yield client
    client.close()


@pytest.fixture(scope="session")
async def platform(
    web_export: str,
    smtp: tuple[MailCatcher, int],
    web_engine: docker.DockerClient,
    web_github: tuple[FakeGitHub, GitServer],
    tmp_path_factory: pytest.TempPathFactory,
    request: Any,
) -> AsyncIterator[Platform]:
    deployment, network, isolation = docker_isolation("web", STANDIN_IMAGE)
    tmp = tmp_path_factory.mktemp("web-stack")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    github, git = web_github
    github.callback_url = f"{base_url}/me/git/github/callback"
    connect_github = git_settings(github, git_host=github.git_base)
    env = {
        **isolation,
        **{f"GATEWAY_{name.upper()}": str(value) for name, value in connect_github.items()},
        "PROVISIONER_DOCKER_MEMORY": "1g",
        "PROVISIONER_DOCKER_STOP_TIMEOUT_SECONDS": "3",
        "PROVISIONER_BUS_ACK_WAIT_SECONDS": "90",
        "OUTBOX_POLL_SECONDS": "0.2",
        "GATEWAY_BASE_URL": base_url,
        "GATEWAY_WEB_DIR": web_export,
        "GATEWAY_SMTP_HOST": "127.0.0.1",
        "GATEWAY_SMTP_PORT": str(smtp[1]),
        "GATEWAY_SMTP_STARTTLS": "false",
        "GATEWAY_SMTP_SENDER": "ClaudeCloud <sign-in@claudecloud.test>",
        "GATEWAY_RATE_LIMIT_LOGIN": "1000/minute",
        "GATEWAY_RATE_LIMIT_API": "100000/minute",
        "LOG_LEVEL": "INFO",
    }
    stack = Stack(local_config(tmp, provider="docker", env=env, port=port))
    await asyncio.to_thread(stack.start)
    try:
        yield Platform(stack, base_url, smtp[0], web_engine, network, github, git)
    finally:
        stack.stop_all()
        remove_deployment(web_engine, deployment, network)
        if request.session.testsfailed:
            for path in sorted((tmp / "logs").glob("*.log")):
                print(f"----- {path} -----\n{path.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: make test-tools installs Debian's chromium")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium), args=["--no-sandbox"]
        )
        yield launched
        await launched.close()


@pytest.fixture
async def watched(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Watched]:
    """A fresh browser (its own cookies) and page; the test fails on any console error."""
    context = await browser.new_context(
        viewport={"width": 1280, "height": 860},
        permissions=["clipboard-read", "clipboard-write"],
    )
    page = await context.new_page()
    page.set_default_timeout(30_000)
    watched = Watched(page, request.node.name.removeprefix("test_"))

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            url = str(message.location.get("url") or page.url)
            watched.errors.append(f"console: {message.text} ({url}) on {page.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.errors.append(f"page error: {error.stack}"))
    try:
        yield watched
    finally:
        await watched.shot("last")
        await context.close()
    ours = [e for e in watched.errors if not any(f"({v}/" in e for v in watched.vendors)]
    assert not ours, "\n".join(ours)
