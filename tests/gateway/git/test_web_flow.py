"""Connecting GitHub from the dashboard: GitHub's OAuth web flow with a ``state`` that works once,
for the user who began it, in the browser that began it; PKCE S256; the account shown by its
login and scopes, never a token."""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.fakes.github import FakeGitHub
from tests.gateway.conftest import Gateway, running

from .conftest import TOKEN, at_github, gateway_path, outcome, person


async def test_connect_github_through_the_web_flow(gateway: Gateway, github: FakeGitHub) -> None:
    alice = await person(gateway, "alice@example.com")
    assert (await alice.connection())["connected"] is False

    url = await alice.begin_web()
    asked = parse_qs(urlsplit(url).query)
    assert asked["client_id"] == [github.client_id]
    assert asked["scope"] == ["repo"]
    assert asked["code_challenge_method"] == ["S256"]  # PKCE: the verifier never left the gateway
    assert asked["redirect_uri"] == ["http://testserver/me/git/github/callback"]

    back = await at_github(github, url, "octocat", "authorize")
    landed = await alice.browse(gateway_path(back))

    assert outcome(landed) == {"git": "connected", "account": "octocat"}
    connection = await alice.connection()
    assert connection["connected"] is True
    assert connection["account"]["login"] == "octocat"
    assert connection["account"]["scopes"] == ["repo"]
    assert connection["name"] == "GitHub"
    # The token reached GitHub's API (GET /user re-checked who it is) and no answer of ours.
    assert github.count("GET /user") == 1
    assert github.working_tokens("octocat")
    assert not any(TOKEN.search(body) for body in alice.answers)


async def test_a_replayed_state_connects_nothing_more(gateway: Gateway, github: FakeGitHub) -> None:
    alice = await person(gateway, "replay@example.com")
    back = await at_github(github, await alice.begin_web(), "octocat", "authorize")
    assert outcome(await alice.browse(gateway_path(back)))["git"] == "connected"
    exchanges = github.count("POST /login/oauth/access_token code")

    again = await alice.browse(gateway_path(back))

    assert outcome(again) == {"git_error": "GitAuthorizationRejected"}
    assert github.count("POST /login/oauth/access_token code") == exchanges  # not even tried


async def test_a_forged_state_is_refused(gateway: Gateway, github: FakeGitHub) -> None:
    mallory = await person(gateway, "mallory@example.com")
    victim = await person(gateway, "victim@example.com")
    # Mallory authorizes her own GitHub account, and gets the victim's browser to the callback
    # with her code: the victim's session did not begin that state.
    back = await at_github(github, await mallory.begin_web(), "hubot", "authorize")
    assert outcome(await victim.browse(gateway_path(back))) == {
        "git_error": "GitAuthorizationRejected"
    }
    assert (await victim.connection())["connected"] is False
    # Spent by that attempt: Mallory cannot use it afterwards either.
    assert outcome(await mallory.browse(gateway_path(back)))["git_error"]

    # A state nobody issued, with a real code.
    url = await victim.begin_web()
    code = parse_qs(urlsplit(await at_github(github, url, "octocat", "authorize")).query)["code"]
    forged = f"/me/git/github/callback?code={code[0]}&state={secrets.token_urlsafe(32)}"
    assert outcome(await victim.browse(forged)) == {"git_error": "GitAuthorizationRejected"}
    assert (await victim.connection())["connected"] is False


async def test_the_state_is_bound_to_the_browser_that_began(
    gateway: Gateway, github: FakeGitHub
) -> None:
    alice = await person(gateway, "two-browsers@example.com")
    back = await at_github(github, await alice.begin_web(), "octocat", "authorize")
    alice.cookies.clear()  # the same account, another browser: without the flow's cookie

    assert outcome(await alice.browse(gateway_path(back))) == {
        "git_error": "GitAuthorizationRejected"
    }
    assert (await alice.connection())["connected"] is False


async def test_declining_at_github_connects_nothing(gateway: Gateway, github: FakeGitHub) -> None:
    alice = await person(gateway, "declines@example.com")
    back = await at_github(github, await alice.begin_web(), "octocat", "cancel")

    assert outcome(await alice.browse(gateway_path(back))) == {"git_error": "GitAccessDenied"}
    assert (await alice.connection())["connected"] is False


async def test_a_callback_signed_out_connects_nothing(gateway: Gateway, github: FakeGitHub) -> None:
    alice = await person(gateway, "signed-out@example.com")
    back = await at_github(github, await alice.begin_web(), "octocat", "authorize")
    answer = await gateway.client.get(
        gateway_path(back), headers={"Cookie": f"git_oauth={alice.cookies['git_oauth']}"}
    )
    assert outcome(answer) == {"git_error": "MissingCredentials"}
    assert (await alice.connection())["connected"] is False


async def test_no_provider_configured(tmp_path: Path) -> None:
    async with running(tmp_path) as bare:
        alice = await person(bare, "nothing@example.com")
        assert (await alice.call("GET", "/me/git")).json() == []
        refused = await alice.call("POST", "/me/git/github/authorize")
        assert refused.status_code == 404
        assert refused.json()["error"] == "GitProviderNotFound"
