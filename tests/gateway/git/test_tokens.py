"""The connected account's token: what a workstation's agent gets (its owner's, for the
provider's host, never another user's), refreshed when it expires (once, however many ask at
once, across replicas too), revoked on disconnect, and the user's repositories it lists."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from claudecloud_agentapi import gateway_token
from claudecloud_common.contracts.instances import InstanceStatus
from gateway.git.flows import GitConnections
from tests.fakes.github import FakeGitHub
from tests.gateway.conftest import ADMIN, Gateway, running
from tests.support import eventually

from .conftest import (
    GIT_HOST,
    TOKEN,
    Person,
    agent_secret,
    enter_device_code,
    git_settings,
    person,
)

REFRESH = "POST /login/oauth/access_token refresh_token"


async def connect(alice: Person, github: FakeGitHub, login: str = "octocat") -> None:
    """Connect through the device flow (the quickest from a test)."""
    started = (await alice.call("POST", "/me/git/github/device")).json()
    await enter_device_code(github, login, started["user_code"], "authorize")
    polled = await alice.call(
        "POST", "/me/git/github/device/poll", json={"device_id": started["device_id"]}
    )
    assert polled.status_code == 200, polled.text
    assert polled.json()["status"] == "connected", polled.text


async def ask(
    gateway: Gateway, instance_id: UUID, secret: str, host: str = "git.test:8080"
) -> httpx.Response:
    """What the instance's agent sends when git asks for a credential."""
    return await gateway.client.post(
        f"/agent/instances/{instance_id}/git/credential",
        json={"protocol": "http", "host": host},
        headers={"Authorization": f"Bearer {secret}"},
    )


async def workstation(gateway: Gateway, alice: Person) -> tuple[UUID, str]:
    """The user's instance, and what its agent presents to the gateway: the token derived from
    its secret (the machine keeps that, never the secret)."""
    instance_id = await gateway.instance(alice.user_id)
    return instance_id, gateway_token(await agent_secret(gateway, instance_id))


async def test_the_agent_gets_its_owners_token_and_no_one_else_does(
    gateway: Gateway, github: FakeGitHub
) -> None:
    alice = await person(gateway, "alice-token@example.com")
    bob = await person(gateway, "bob-token@example.com")
    await connect(alice, github)
    mine, my_secret = await workstation(gateway, alice)
    theirs, their_secret = await workstation(gateway, bob)

    given = await ask(gateway, mine, my_secret)
    assert given.status_code == 200, given.text
    credential = given.json()
    assert github.token_owner(credential["password"]) == "octocat"
    assert credential["username"] == "octocat"
    assert given.headers["cache-control"] == "no-store"

    setup = await gateway.client.get(
        f"/agent/instances/{mine}/git", headers={"Authorization": f"Bearer {my_secret}"}
    )
    assert setup.json() == {"provider": "GitHub", "hosts": [GIT_HOST]}

    # Bob's workstation: his own secret with Alice's instance, or Alice's with his, or none.
    for instance_id, secret in ((mine, their_secret), (theirs, my_secret), (mine, "")):
        refused = await ask(gateway, instance_id, secret)
        assert (refused.status_code, refused.json()["error"]) == (401, "AgentNotRecognised")
        assert not TOKEN.search(refused.text)
    # With his own, he is told to connect GitHub himself.
    unconnected = await ask(gateway, theirs, their_secret)
    assert unconnected.status_code == 409
    assert unconnected.json()["detail"].startswith("connect GitHub: open http://testserver/")
    assert "claude-cloud git connect github" in unconnected.json()["detail"]
    # Another host is not the provider's: nothing to say.
    other = await ask(gateway, mine, my_secret, host="example.com")
    assert (other.status_code, other.json()["error"]) == (404, "NotProviderHost")


async def test_a_paused_instance_gets_nothing(gateway: Gateway, github: FakeGitHub) -> None:
    alice = await person(gateway, "paused@example.com")
    await connect(alice, github)
    instance_id, secret = await workstation(gateway, alice)
    paused = await gateway.client.post(
        f"/instances/{instance_id}/pause", headers=ADMIN, json={"keep_memory": False}
    )
    assert paused.status_code == 202, paused.text

    async def is_paused() -> bool:
        return await gateway.status(instance_id) is InstanceStatus.PAUSED

    await eventually(is_paused, what="the instance paused")
    refused = await ask(gateway, instance_id, secret)  # its own secret, from when it ran
    assert (refused.status_code, refused.json()["error"]) == (401, "AgentNotRecognised")


async def test_an_expired_token_is_refreshed_once_however_many_ask(
    gateway: Gateway, github: FakeGitHub
) -> None:
    github.expiring, github.access_lifetime = True, 60  # a GitHub App's token, short-lived
    alice = await person(gateway, "expired@example.com")
    await connect(alice, github)
    github.let_time_pass(120)
    assert github.working_tokens("octocat") == []  # the connected token has expired
    github.access_lifetime = 28800
    instance_id, secret = await workstation(gateway, alice)

    answers = await asyncio.gather(*(ask(gateway, instance_id, secret) for _ in range(6)))

    assert {a.status_code for a in answers} == {200}
    tokens = {a.json()["password"] for a in answers}
    assert len(tokens) == 1  # everyone got the one refreshed token
    assert github.token_owner(tokens.pop()) == "octocat"
    assert github.count(REFRESH) == 1
    assert answers[0].json()["expires_at"] is not None


async def test_replicas_refresh_once_between_them(gateway: Gateway, github: FakeGitHub) -> None:
    github.expiring, github.access_lifetime = True, 60
    alice = await person(gateway, "replicas@example.com")
    await connect(alice, github)
    github.let_time_pass(120)
    github.access_lifetime = 28800
    one = gateway.state.git
    assert one is not None
    # A second replica: the same database, its own process-wide locks and client.
    other = GitConnections(one.db, one.cipher, one.client, one.settings)

    got = await asyncio.gather(*(c.current(alice.user_id) for c in (one, other, one, other)))

    assert len({t.access.get_secret_value() for t in got}) == 1
    assert github.count(REFRESH) == 1


async def test_a_dead_refresh_token_asks_to_connect_again(
    gateway: Gateway, github: FakeGitHub
) -> None:
    github.expiring, github.access_lifetime = True, 60
    alice = await person(gateway, "dead@example.com")
    await connect(alice, github)
    for token in github.tokens.values():  # revoked at GitHub, say
        token.alive = False
    instance_id, secret = await workstation(gateway, alice)

    refused = await ask(gateway, instance_id, secret)

    assert (refused.status_code, refused.json()["error"]) == (409, "GitReconnectNeeded")
    assert refused.json()["detail"].startswith("connect GitHub again:")


async def test_disconnect_revokes_the_token(gateway: Gateway, github: FakeGitHub) -> None:
    alice = await person(gateway, "disconnect@example.com")
    await connect(alice, github)
    instance_id, secret = await workstation(gateway, alice)
    token = (await ask(gateway, instance_id, secret)).json()["password"]

    gone = await alice.call("DELETE", "/me/git/github")

    assert gone.status_code == 204
    assert github.token_owner(token) is None  # revoked at GitHub
    assert github.count("DELETE /applications/{client_id}/token") == 1
    assert (await alice.connection())["connected"] is False
    refused = await ask(gateway, instance_id, secret)
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("connect GitHub:")


async def test_connecting_again_revokes_the_token_it_replaces(
    gateway: Gateway, github: FakeGitHub
) -> None:
    alice = await person(gateway, "twice@example.com")
    await connect(alice, github)
    [first] = github.working_tokens("octocat")

    await connect(alice, github)

    [second] = github.working_tokens("octocat")
    assert second != first
    assert github.token_owner(first) is None


async def test_the_users_repositories(gateway: Gateway, github: FakeGitHub) -> None:
    alice = await person(gateway, "repos@example.com")
    github.add_repo("octocat", "private-thing", private=True, default_branch="trunk")
    github.add_repo("octocat", "public-thing", private=False)
    github.add_repo("hubot", "not-hers", private=True)
    github.add_repo("hubot", "shared", private=True, collaborators={"octocat"})
    assert (await alice.call("GET", "/me/git/github/repos")).status_code == 409
    await connect(alice, github)

    page: dict[str, Any] = (await alice.call("GET", "/me/git/github/repos")).json()

    found = {r["full_name"]: r for r in page["repositories"]}
    assert set(found) == {"octocat/private-thing", "octocat/public-thing", "hubot/shared"}
    assert found["octocat/private-thing"]["private"] is True
    assert found["octocat/private-thing"]["default_branch"] == "trunk"
    assert found["octocat/public-thing"]["private"] is False
    assert found["hubot/shared"]["clone_url"] == f"{GIT_HOST}/hubot/shared.git"
    assert page["more"] is False
    first = (await alice.call("GET", "/me/git/github/repos?per_page=2")).json()
    assert (len(first["repositories"]), first["more"]) == (2, True)
    assert not any(TOKEN.search(body) for body in alice.answers)


async def test_the_workstations_listener_serves_only_them(
    tmp_path: Path, github: FakeGitHub
) -> None:
    async with running(tmp_path, agent_port=8081, **git_settings(github)) as gateway:
        workstations = httpx.AsyncClient(
            transport=gateway.client._transport, base_url="http://testserver:8081"
        )
        async with workstations:
            assert (await workstations.get("/healthz")).status_code == 200
            assert (await workstations.get("/auth/me")).status_code == 404
            assert (await workstations.get("/agent/instances/x/git")).status_code != 404
        public = await gateway.client.get(f"/agent/instances/{UUID(int=1)}/git")
        assert (public.status_code, public.json()["error"]) == (404, "NotFound")
