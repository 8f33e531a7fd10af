"""The Hetzner + Netbird create saga through the bus, with the fake Netbird and the stand-in
Terraform: a full create, a failure at each step leaving nothing behind, destroy tearing down in
order, and the saga's timeout."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import timedelta

import pytest
from pydantic import SecretStr

from claudecloud_common.contracts.base import utcnow
from netbird.app import build
from netbird.client import NetbirdClient
from netbird.settings import NetbirdSettings
from tests.netbird.conftest import Platform, PlatformFactory
from tests.support import eventually

NOTHING = {"groups": 0, "setup_keys": 0, "routes": 0, "policies": 0}


def mesh_resources(platform: Platform) -> dict[str, int]:
    found = platform.netbird.resources()
    return {k: found[k] for k in NOTHING}


def assert_document_followed(platform: Platform) -> None:
    assert platform.netbird.refused == [], "the client sent what the OpenAPI document refuses"
    assert platform.netbird.violations == [], "the fake answered what the document does not say"


async def test_create_with_mesh_runs_the_saga_to_running(platform: PlatformFactory) -> None:
    async with platform() as p:
        instance_id, user_id = await p.create()
        view = await p.until_status(instance_id, "running")

        assert view.provider == "hetzner"
        types = p.seen.types(instance_id)
        order = [
            "instance.requested",
            "netbird.prepared",
            "instance.created",
            "netbird.finalized",
            "instance.running",
        ]
        assert list(dict.fromkeys(t for t in types if t in order)) == order  # (a re-publish
        # after a slow acknowledgement repeats a message id, which consumers drop)
        assert p.seen.of(instance_id, "instance.requested")[0]["mesh"] is True

        # One group, one one-off key into it, a route to the instance's subnet, a policy.
        fake = p.netbird
        assert mesh_resources(p) == {"groups": 1, "setup_keys": 1, "routes": 1, "policies": 1}
        (group,) = fake.groups.values()
        (key,) = fake.setup_keys.values()
        (route,) = fake.routes.values()
        (policy,) = fake.policies.values()
        assert group["name"].endswith(str(instance_id))
        assert (key["type"], key["usage_limit"], key["auto_groups"]) == (
            "one-off",
            1,
            [group["id"]],
        )
        subnet = p.seen.of(instance_id, "instance.created")[0]["subnet"]
        assert route["network"] == subnet
        assert subnet.startswith("10.100.")
        assert subnet.endswith(".0/24")
        assert route["peer_groups"] == [group["id"]]
        rule = policy["rules"][0]
        assert (rule["sources"], rule["destinations"]) == ([group["id"]], [group["id"]])

        # The key Netbird issued is the one Terraform gave the server's cloud-init.
        (server,) = p.servers(user_id)
        secret = fake.key_secrets[key["id"]]
        assert server["setup_key_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
        assert view.host == f"{subnet.removesuffix('0/24')}10:3001"
        # The key never crossed the bus where a log could show it: only inside netbird.prepared.
        carrying = [e for e in p.seen.events if secret in str(e)]
        assert {e["type"] for e in carrying} == {"netbird.prepared"}
        assert_document_followed(p)


STEPS = [
    pytest.param(("POST", "/api/groups"), "prepare", id="group"),
    pytest.param(("POST", "/api/setup-keys"), "prepare", id="setup-key"),
    pytest.param(None, "terraform", id="terraform-apply"),
    pytest.param(("POST", "/api/routes"), "finalize", id="route"),
    pytest.param(("POST", "/api/policies"), "finalize", id="policy"),
]


@pytest.mark.parametrize(("call", "step"), STEPS)
async def test_a_failure_at_each_step_leaves_nothing_behind(
    platform: PlatformFactory, call: tuple[str, str] | None, step: str
) -> None:
    async with platform() as p:
        if call is None:
            p.workspaces.mkdir(parents=True, exist_ok=True)
            (p.workspaces / ".fail-apply").touch()
        else:
            p.netbird.fail(*call, status=403)
        instance_id, user_id = await p.create()

        view = await p.until_status(instance_id, "failed")
        assert view.reason
        if step == "terraform":
            assert view.failure == "provider_error"
            assert "terraform apply failed" in view.reason
            assert "server_type unavailable" in view.reason
        else:
            assert view.failure == "mesh_step_failed"
            assert f"({step})" in view.reason
            failed = p.seen.of(instance_id, "netbird.failed")
            assert {f["step"] for f in failed} == {step}
        await eventually(
            lambda: p.seen.of(instance_id, "netbird.torn_down"), what="the mesh torn down"
        )
        await eventually(lambda: mesh_resources(p) == NOTHING, what="no mesh resource left")
        assert p.servers(user_id) == [], "a server outlived the failed saga"
        assert p.seen.of(instance_id, "instance.running") == []
        assert_document_followed(p)


async def test_destroy_tears_down_policy_then_route_then_group_and_keys_of_devices_too(
    platform: PlatformFactory,
) -> None:
    async with platform() as p:
        instance_id, user_id = await p.create()
        await p.until_status(instance_id, "running")
        (key_id,) = p.netbird.setup_keys
        p.netbird.enrol(p.netbird.key_secrets[key_id], f"claude-{user_id}")  # cloud-init's join
        device = await p.device_key(instance_id, user_id)  # what the connect script is given
        laptop = p.netbird.enrol(device, "my-laptop")

        await p.destroy(instance_id)
        await p.until_status(instance_id, "destroyed")
        await eventually(
            lambda: p.seen.of(instance_id, "netbird.torn_down"), what="the mesh torn down"
        )

        assert p.netbird.resources() == {**NOTHING, "peers": 1}
        assert list(p.netbird.peers) == [laptop["id"]], "the owner's own device stays theirs"
        deletes = [c.template for c in p.netbird.calls if c.method == "DELETE"]
        order = [d for d in deletes if d.split("/")[2] in ("policies", "routes", "groups")]
        assert order == [
            "/api/policies/{policyId}",
            "/api/routes/{routeId}",
            "/api/groups/{groupId}",
        ]
        assert p.servers(user_id) == [], "destroy leaves no server"
        volumes = [r for r in p.state(user_id)["resources"] if r["type"] == "hcloud_volume"]
        assert volumes, "destroy without purge keeps the data volume"
        assert_document_followed(p)


async def test_the_saga_timeout_fails_the_instance_and_cleans_up(
    platform: PlatformFactory,
) -> None:
    async with platform(provisioner={"stuck_after_seconds": 1.0}) as p:
        held = p.netbird.hold("POST", "/api/routes")  # finalize never finishes in time
        instance_id, user_id = await p.create()
        await held.arrived.wait()

        view = await p.until_status(instance_id, "failed")
        assert (view.failure, view.reason) == ("stuck", "timed out while provisioning")
        held.released.set()

        await eventually(lambda: p.servers(user_id) == [], what="the server removed")
        await eventually(lambda: mesh_resources(p) == NOTHING, what="no mesh resource left")
        assert p.seen.of(instance_id, "instance.running") == []
        assert_document_followed(p)


async def test_expired_keys_of_this_service_are_deleted_and_only_those(
    platform: PlatformFactory,
) -> None:
    async with platform() as p:
        instance_id, _ = await p.create()
        await p.until_status(instance_id, "running")
        client = NetbirdClient(p.netbird_url, SecretStr(p.netbird.token))
        group = await client.create_group("someone-else")
        theirs = await client.create_setup_key("someone-else", groups=[group.id], expires_in=86400)
        await client.close()
        assert len(p.netbird.setup_keys) == 2

        parts = build(
            NetbirdSettings(
                database_url=p.netbird_db,
                api_url=p.netbird_url,
                api_token=SecretStr(p.netbird.token),
            )
        )
        try:
            # A day and more later: both keys have expired; the service deletes only its own.
            deleted = await parts.saga.delete_expired_keys(now=utcnow() + timedelta(days=2))
        finally:
            await parts.client.close()
            await parts.db.dispose()
        assert deleted >= 1  # (keys of other tests' instances still alive count too)
        assert list(p.netbird.setup_keys) == [theirs.id]
        assert_document_followed(p)


async def test_netbird_unavailable_for_a_while_is_retried_without_duplicates(
    platform: PlatformFactory,
) -> None:
    async with platform() as p:
        p.netbird.fail("POST", "/api/setup-keys", status=503, times=2)
        p.netbird.fail("POST", "/api/policies", status=502, times=1)
        instance_id, _ = await p.create()

        await p.until_status(instance_id, "running", timeout=30)

        assert mesh_resources(p) == {"groups": 1, "setup_keys": 1, "routes": 1, "policies": 1}
        assert p.netbird.count("POST", "/api/groups") == 1
        assert p.netbird.count("POST", "/api/setup-keys") == 3
        assert p.seen.of(instance_id, "netbird.failed") == []
        assert_document_followed(p)


async def test_a_netbird_call_longer_than_the_ack_wait_is_made_once(
    platform: PlatformFactory,
) -> None:
    """A slow Netbird: making the group outlasts the bus's ack wait (3 s here). The saga's step
    beats while it waits, so JetStream does not hand the event to a second run beside it, which
    made a second group (and key) under load, and left the mesh impossible to tear down."""
    async with platform() as p:
        p.netbird.slow("POST", "/api/groups", 4.0)
        instance_id, _ = await p.create()
        await p.until_status(instance_id, "running", timeout=60)
        await _made_once_and_torn_down(p, instance_id)
    assert p.netbird.refused == []


async def test_two_deliveries_of_one_event_at_once_make_the_mesh_once(
    platform: PlatformFactory,
) -> None:
    """The same ``requested`` event delivered twice, the second while the first still waits on
    Netbird for the setup key (a redelivery that overlaps its first run, as CI's load once
    made): the second waits for its instance's turn, finds the step done, and makes no second
    key."""
    async with platform() as p:
        held = p.netbird.hold("POST", "/api/setup-keys")
        instance_id, _ = await p.create()
        async with asyncio.timeout(30):
            await held.arrived.wait()
        [requested] = p.seen.of(instance_id, "instance.requested")
        again = json.dumps(requested).encode()  # stored anew: another Nats-Msg-Id
        await p.bus.jetstream().publish(
            "evt.instance.requested", again, headers={"Nats-Msg-Id": f"again-{instance_id}"}
        )
        await eventually(lambda: _delivered_twice(p), timeout=15, what="the second delivery")
        held.released.set()
        await p.until_status(instance_id, "running", timeout=60)
        assert mesh_resources(p) == {"groups": 1, "setup_keys": 1, "routes": 1, "policies": 1}
        await _made_once_and_torn_down(p, instance_id)


async def _made_once_and_torn_down(p: Platform, instance_id: uuid.UUID) -> None:
    """Destroyed, its mesh is gone, and it was made with one group and one key."""
    await p.destroy(instance_id)
    await eventually(
        lambda: p.seen.of(instance_id, "netbird.torn_down"), timeout=30, what="torn down"
    )
    assert p.netbird.count("POST", "/api/groups") == 1
    assert p.netbird.count("POST", "/api/setup-keys") == 1
    assert mesh_resources(p) == NOTHING


async def _delivered_twice(p: Platform) -> bool:
    """The netbird service has taken the copy (nothing left undelivered on its consumer)."""
    info = await p.bus.jetstream().consumer_info("EVT", "netbird-evt-instance-requested")
    return bool(info.num_pending == 0)
