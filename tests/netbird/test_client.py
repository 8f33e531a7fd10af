"""The Netbird client's requests and the fake's answers both follow netbird-openapi.yml: every
operation the client has, against the fake that refuses what the document does not allow."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from netbird.client import NetbirdClient
from netbird.errors import NetbirdAPIError
from tests.fakes.netbird import FakeNetbird, serve_fake


@pytest.fixture
async def served() -> AsyncIterator[tuple[FakeNetbird, NetbirdClient]]:
    async with serve_fake() as (fake, url):
        client = NetbirdClient(url, SecretStr(fake.token))
        yield fake, client
        await client.close()


async def test_every_operation_matches_the_document(
    served: tuple[FakeNetbird, NetbirdClient],
) -> None:
    fake, client = served
    group = await client.create_group("claudecloud-test")
    assert [g.id for g in await client.find_groups("claudecloud-test")] == [group.id]
    assert await client.find_groups("someone-else") == []
    key = await client.create_setup_key("claudecloud-test", groups=[group.id], expires_in=86400)
    assert key.type == "one-off"
    assert key.key.get_secret_value() == fake.key_secrets[key.id]
    listed = await client.list_setup_keys()
    assert [k.id for k in listed] == [key.id]
    peer = fake.enrol(key.key.get_secret_value(), "claude-server")
    assert [p.id for p in (await client.get_group(group.id)).peers] == [peer["id"]]
    assert [p.name for p in await client.list_peers(name="claude-server")] == ["claude-server"]
    route = await client.create_route(
        network_id="cc-test", description="claudecloud-test", network="10.100.7.0/24",
        group_id=group.id,
    )  # fmt: skip
    assert [r.id for r in await client.list_routes()] == [route.id]
    policy = await client.create_policy("claudecloud-test", group_id=group.id)
    assert [p.id for p in await client.list_policies()] == [policy.id]
    assert policy.id is not None

    await client.delete_policy(policy.id)
    await client.delete_route(route.id)
    await client.delete_setup_key(key.id)
    await client.delete_peer(peer["id"])
    await client.delete_group(group.id)

    assert fake.resources() == dict.fromkeys(fake.resources(), 0)
    assert fake.refused == []
    assert fake.violations == []


async def test_errors_carry_netbirds_status_and_message(
    served: tuple[FakeNetbird, NetbirdClient],
) -> None:
    fake, client = served
    with pytest.raises(NetbirdAPIError) as missing:
        await client.delete_group("no-such-group")
    assert (missing.value.status, missing.value.not_found) == (404, True)
    assert missing.value.message == "group no-such-group not found"

    group = await client.create_group("linked")
    await client.create_setup_key("linked", groups=[group.id], expires_in=86400)
    with pytest.raises(NetbirdAPIError) as linked:
        await client.delete_group(group.id)
    assert linked.value.status == 400
    assert "linked" in linked.value.message
    assert not linked.value.retryable

    fake.fail("GET", "/api/routes", status=503, times=1)
    with pytest.raises(NetbirdAPIError) as down:
        await client.list_routes()
    assert (down.value.status, down.value.retryable) == (503, True)


async def test_the_fake_refuses_what_the_document_does_not_allow(
    served: tuple[FakeNetbird, NetbirdClient],
) -> None:
    fake, _ = served
    async with httpx.AsyncClient(
        base_url=str(_url(served)), headers={"Authorization": f"Token {fake.token}"}
    ) as http:
        no_name = await http.post("/api/groups", json={"peers": []})
        short_key = await http.post(
            "/api/setup-keys",
            json={"name": "k", "type": "one-off", "expires_in": 60, "auto_groups": [],
                  "usage_limit": 1},
        )  # fmt: skip
        wrong_method = await http.patch("/api/groups")
        unknown = await http.get("/api/not-a-path")
    async with httpx.AsyncClient(base_url=str(_url(served))) as anonymous:
        no_token = await anonymous.get("/api/groups")

    assert no_name.status_code == 400
    assert "'name' is a required property" in no_name.json()["message"]
    assert short_key.status_code == 400
    assert "86400" in short_key.json()["message"]
    assert (wrong_method.status_code, unknown.status_code, no_token.status_code) == (405, 404, 401)
    assert len(fake.refused) == 5
    assert fake.groups == {}


def _url(served: tuple[FakeNetbird, NetbirdClient]) -> httpx.URL:
    return served[1]._http.base_url
