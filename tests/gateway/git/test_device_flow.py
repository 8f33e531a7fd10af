"""Connecting GitHub from a device without a browser (the CLI): GitHub's device flow through the
gateway, which keeps the device code and passes on GitHub's pace (``interval``, ``slow_down``)
and its endings (an expired code, a declined one)."""

from __future__ import annotations

from typing import Any

from tests.fakes.github import FakeGitHub
from tests.gateway.conftest import Gateway

from .conftest import TOKEN, Person, enter_device_code, person


async def begin(alice: Person) -> dict[str, Any]:
    started = await alice.call("POST", "/me/git/github/device")
    assert started.status_code == 201, started.text
    found: dict[str, Any] = started.json()
    return found


async def poll(alice: Person, device_id: str) -> tuple[int, dict[str, Any]]:
    answer = await alice.call("POST", "/me/git/github/device/poll", json={"device_id": device_id})
    body: dict[str, Any] = answer.json()
    return answer.status_code, body


async def test_connect_through_the_device_flow(gateway: Gateway, github: FakeGitHub) -> None:
    github.device_interval = 5
    alice = await person(gateway, "device@example.com")
    started = await begin(alice)
    assert started["verification_uri"] == f"{github.base_url}/login/device"
    assert started["interval"] == 5
    assert len(started["user_code"]) == 9  # XXXX-XXXX, as GitHub's
    assert "device_code" not in started  # it stays with the gateway

    assert await poll(alice, started["device_id"]) == (200, {"status": "pending", "interval": 5,
                                                              "account": None})  # fmt: skip
    # Polled again at once: GitHub adds five seconds, the answer says the new interval.
    assert await poll(alice, started["device_id"]) == (
        200, {"status": "slow_down", "interval": 10, "account": None},
    )  # fmt: skip

    await enter_device_code(github, "octocat", started["user_code"], "authorize")
    github.let_time_pass(10)
    status, polled = await poll(alice, started["device_id"])

    assert (status, polled["status"]) == (200, "connected")
    assert polled["account"]["login"] == "octocat"
    assert (await alice.connection())["account"]["login"] == "octocat"
    assert not any(TOKEN.search(body) for body in alice.answers)
    # Done: the handle works no more.
    assert (await poll(alice, started["device_id"]))[0] == 400


async def test_a_declined_or_expired_code_ends_the_flow(
    gateway: Gateway, github: FakeGitHub
) -> None:
    alice = await person(gateway, "declined@example.com")
    declined = await begin(alice)
    await enter_device_code(github, "octocat", declined["user_code"], "cancel")
    status, body = await poll(alice, declined["device_id"])
    assert (status, body["error"]) == (403, "GitAccessDenied")

    expired = await begin(alice)
    github.expire_device_codes()
    status, body = await poll(alice, expired["device_id"])
    assert (status, body["error"]) == (410, "DeviceCodeExpired")
    assert (await alice.connection())["connected"] is False


async def test_someone_elses_device_flow_is_not_yours(gateway: Gateway, github: FakeGitHub) -> None:
    alice = await person(gateway, "alice-device@example.com")
    bob = await person(gateway, "bob-device@example.com")
    started = await begin(alice)
    await enter_device_code(github, "octocat", started["user_code"], "authorize")

    status, body = await poll(bob, started["device_id"])

    assert (status, body["error"]) == (400, "GitAuthorizationRejected")
    assert (await bob.connection())["connected"] is False
    assert (await poll(alice, started["device_id"]))[1]["status"] == "connected"
