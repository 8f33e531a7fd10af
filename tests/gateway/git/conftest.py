"""The gateway's git provider against a local GitHub (:mod:`tests.fakes.github`, on a port of
its own in a thread): the app in this process on the in-memory bus, the real provisioner beside
it (fake machines, whose agent secrets stand for the workstations'), as in ``tests/gateway``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from claudecloud_common.contracts.instances import GetInstanceEndpoint
from claudecloud_common.rpc import request
from tests.fakes.github import API_PREFIX, FakeGitHub
from tests.gateway.conftest import BASE_URL, Gateway, running

GIT_HOST = "http://git.test:8080"
CALLBACK = f"{BASE_URL}/me/git/github/callback"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(callback_url=CALLBACK, git_base=GIT_HOST, device_interval=0)
    fake.add_user("octocat", "The Octocat")
    fake.add_user("hubot")
    with fake.serve():
        yield fake
    assert not fake.violations, fake.violations


def git_settings(github: FakeGitHub, **overrides: Any) -> dict[str, Any]:
    base = github.base_url
    return {
        "git_client_id": github.client_id,
        "git_client_secret": github.client_secret,
        "git_authorize_url": f"{base}/login/oauth/authorize",
        "git_token_url": f"{base}/login/oauth/access_token",
        "git_device_code_url": f"{base}/login/device/code",
        "git_api_url": f"{base}{API_PREFIX}",
        "git_host": GIT_HOST,
        **overrides,
    }


@dataclass
class Person:
    """A signed-in user with a browser of their own (its cookies)."""

    gateway: Gateway
    token: str
    user_id: UUID
    cookies: dict[str, str] = field(default_factory=dict)
    answers: list[str] = field(default_factory=list)
    """Every body the gateway answered this person (leak checks)."""

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        response = await self.gateway.client.request(method, path, headers=headers, **kwargs)
        self.answers.append(response.text)
        return response

    async def browse(self, url: str) -> httpx.Response:
        """What the browser does with a URL of the gateway's: its session and other cookies."""
        cookies = {"session": self.token, **self.cookies}
        header = "; ".join(f"{k}={v}" for k, v in cookies.items())
        response = await self.gateway.client.get(url, headers={"Cookie": header})
        self.answers.append(response.text)
        return response

    async def begin_web(self) -> str:
        """``POST /me/git/github/authorize``: the provider's URL; the browser keeps the cookie."""
        response = await self.call("POST", "/me/git/github/authorize")
        assert response.status_code == 200, response.text
        self.cookies["git_oauth"] = response.cookies["git_oauth"]
        url: str = response.json()["url"]
        return url

    async def connection(self) -> dict[str, Any]:
        response = await self.call("GET", "/me/git/github")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("type") == "hidden" and found.get("name"):
            self.fields[found["name"] or ""] = found.get("value") or ""


async def at_github(github: FakeGitHub, url: str, login: str, decision: str) -> str:
    """A person signed in to GitHub as ``login`` opens the authorize page and clicks
    ``decision`` (authorize or cancel); where GitHub sends the browser back."""
    github.signed_in = login
    async with httpx.AsyncClient() as browser:
        page = await browser.get(url)
        assert page.status_code == 200, page.text
        form = _Form()
        form.feed(page.text)
        page_url = url.split("?", maxsplit=1)[0]
        answer = await browser.post(page_url, data={**form.fields, "decision": decision})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


async def enter_device_code(github: FakeGitHub, login: str, user_code: str, decision: str) -> None:
    """The person opens ``verification_uri`` signed in as ``login`` and enters the code."""
    github.signed_in = login
    async with httpx.AsyncClient() as browser:
        answer = await browser.post(
            f"{github.base_url}/login/device", data={"user_code": user_code, "decision": decision}
        )
    assert answer.status_code == 200, answer.text


def gateway_path(url: str) -> str:
    """The path and query of a URL on the gateway (the callback the provider redirects to)."""
    assert url.startswith(BASE_URL), url
    return url[len(BASE_URL) :]


def outcome(response: httpx.Response) -> dict[str, str]:
    """Where the callback sent the browser: the dashboard's query (``git`` or ``git_error``)."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/dashboard/?"), location
    query = location.split("?", 1)[1].split("#", 1)[0]
    return dict(httpx.QueryParams(query))


async def agent_secret(gateway: Gateway, instance_id: UUID) -> str:
    """The instance's agent secret, as the provisioner gave it to the machine."""
    query = GetInstanceEndpoint(instance_id=instance_id)
    endpoint = await request(gateway.state.broker, query, timeout=5)
    assert endpoint.agent_secret is not None
    return endpoint.agent_secret.get_secret_value()


async def person(gateway: Gateway, email: str) -> Person:
    token = await gateway.sign_in(email)
    me = await gateway.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    return Person(gateway, token, UUID(me.json()["user_id"]))


@pytest.fixture
async def gateway(tmp_path: Path, github: FakeGitHub) -> AsyncIterator[Gateway]:
    async with running(tmp_path, **git_settings(github)) as started:
        yield started


TOKEN = re.compile(r"gh[our]_[0-9a-f]{20,}")
