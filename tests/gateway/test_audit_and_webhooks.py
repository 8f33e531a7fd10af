"""The gateway's part of the audit log and of users' webhooks, with the real provisioner, audit
and webhooks services beside it on the in-memory bus (SQLite files of their own): what a user
and an operator do is recorded on the user's chain with who and from where, read back at
``/me/audit`` (and exported as JSON lines) by that user only; ``/me/webhooks`` answers a secret
once and keeps someone else's endpoint out of reach."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from faststream import TestApp
from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker

from audit.app import create_app as create_audit
from audit.settings import AuditSettings
from tests.support import eventually
from webhooks.app import create_app as create_webhooks
from webhooks.settings import WebhooksSettings

from .conftest import (
    ADMIN,
    BASE_URL,
    Gateway,
    build,
    in_memory_bus,
    provisioner_app,
    sign_in_link,
)

IN_MEMORY = "nats://in-memory.invalid:4222"  # never dialled: the brokers are in memory


def _peer(create: Any, settings: Any) -> AsgiFastStream:
    app: AsgiFastStream = create(settings)
    return app


@asynccontextmanager
async def platform(tmp_path: Path, **gateway: Any) -> AsyncIterator[Gateway]:
    """The gateway, with the provisioner, audit and webhooks services on the in-memory bus."""
    app = build(tmp_path, **({"rate_limit_api": "100000/minute"} | gateway))
    peers = [
        provisioner_app(tmp_path),
        _peer(
            create_audit,
            AuditSettings(
                data_dir=tmp_path / "audit", nats_url=IN_MEMORY, retention_interval_seconds=0
            ),
        ),
        _peer(
            create_webhooks,
            WebhooksSettings(data_dir=tmp_path / "webhooks", nats_url=IN_MEMORY),
        ),
    ]
    brokers = [peer.broker for peer in peers]
    assert all(isinstance(b, NatsBroker) for b in brokers)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(in_memory_bus(app, *brokers))  # type: ignore[arg-type]
        for peer in peers:
            await stack.enter_async_context(TestApp(peer))
        await stack.enter_async_context(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 50000))
        client = httpx.AsyncClient(transport=transport, base_url=BASE_URL)
        await stack.enter_async_context(client)
        yield Gateway(app, client)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "User-Agent": "audit-test/1.0"}


async def audit_of(gateway: Gateway, token: str, count: int, **params: Any) -> list[dict[str, Any]]:
    """The user's records, once there are ``count`` of them (the gateway publishes after the
    fact)."""

    async def enough() -> list[dict[str, Any]] | None:
        found = await gateway.client.get("/me/audit", headers=bearer(token), params=params)
        assert found.status_code == 200, found.text
        items: list[dict[str, Any]] = found.json()["items"]
        return items if len(items) >= count else None

    found: list[dict[str, Any]] = await eventually(enough, what=f"{count} audit records")
    return found


async def test_a_users_and_an_operators_acts_are_on_the_users_chain_with_who_and_from_where(
    tmp_path: Path,
) -> None:
    async with platform(tmp_path) as gateway:
        token = await gateway.sign_in("ada@example.com")
        other = await gateway.sign_in("bob@example.com")
        created = await gateway.client.post("/instances", headers=bearer(token))
        instance_id = created.json()["id"]
        woken = await gateway.client.post(f"/instances/{instance_id}/wake", headers=bearer(token))
        paused = await gateway.client.post(
            f"/instances/{instance_id}/pause", headers=ADMIN, json={"keep_memory": False}
        )
        stored = await gateway.client.put(
            "/me/claude-credential",
            headers=bearer(token),
            json={"kind": "api_key", "value": "sk-ant-api03-" + "x" * 40},
        )
        await gateway.client.post("/auth/logout", headers=bearer(other))
        records = await audit_of(gateway, token, 5)
        everyone = await gateway.client.get("/me/audit", headers=bearer(token))
        theirs = await gateway.client.get("/me/audit", headers=ADMIN)
    assert (created.status_code, woken.status_code, paused.status_code) == (202, 409, 202)
    assert stored.status_code == 200
    kinds = [(r["kind"], r["detail"].get("command"), r["outcome"]) for r in reversed(records)]
    assert kinds == [
        ("auth.sign_in", None, "ok"),
        ("instance.command", "create", "ok"),
        ("instance.command", "wake", "refused"),
        ("instance.command", "pause", "ok"),
        ("credential.set", None, "ok"),
    ]
    by_kind = {(r["kind"], r["detail"].get("command")): r for r in records}
    wake = by_kind[("instance.command", "wake")]
    assert wake["actor"] == {"kind": "user", "id": wake["user_id"]}
    assert wake["origin"] == {"address": "198.51.100.9", "user_agent": "audit-test/1.0"}
    assert wake["detail"]["error"] == "IllegalTransition"
    pause = by_kind[("instance.command", "pause")]
    assert pause["actor"] == {"kind": "operator", "id": "api-key"}
    assert pause["instance_id"] == instance_id
    assert pause["detail"]["keep_memory"] is False
    credential = by_kind[("credential.set", None)]
    assert credential["detail"] == {"credential": "api_key"}  # never the value
    assert "sk-ant" not in json.dumps(records)
    assert all(r["user_id"] == records[0]["user_id"] for r in records)
    assert "auth.sign_out" not in {r["kind"] for r in everyone.json()["items"]}  # bob's
    assert theirs.status_code == 403


async def test_the_owner_exports_their_log_as_json_lines_and_filters_it(tmp_path: Path) -> None:
    async with platform(tmp_path) as gateway:
        token = await gateway.sign_in("ada@example.com")
        await gateway.client.post("/instances", headers=bearer(token))
        await audit_of(gateway, token, 2)
        exported = await gateway.client.get("/me/audit/export", headers=bearer(token))
        commands = await gateway.client.get(
            "/me/audit", headers=bearer(token), params={"kind": "instance.command"}
        )
        a_number = await gateway.client.get(
            "/me/audit/export", headers=bearer(token), params={"since": "1"}
        )
    assert a_number.status_code == 422  # a date-time, as the schema says, not seconds
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in exported.text.splitlines()]
    assert [line["kind"] for line in lines] == ["instance.command", "auth.sign_in"]
    assert lines[0]["prev_hash"] == lines[1]["hash"]  # the chain, as exported
    assert [r["kind"] for r in commands.json()["items"]] == ["instance.command"]


async def test_a_webhook_endpoint_answers_its_secret_once_and_is_the_owners_alone(
    tmp_path: Path,
) -> None:
    async with platform(tmp_path) as gateway:
        token = await gateway.sign_in("ada@example.com")
        other = await gateway.sign_in("bob@example.com")
        body = {
            "url": "http://127.0.0.1:9/hook?token=receivers-own",
            "events": ["instance.running"],
        }
        created = await gateway.client.post("/me/webhooks", headers=bearer(token), json=body)
        endpoint = created.json()["id"]
        listed = await gateway.client.get("/me/webhooks", headers=bearer(token))
        stolen = await gateway.client.delete(f"/me/webhooks/{endpoint}", headers=bearer(other))
        rotated = await gateway.client.post(
            f"/me/webhooks/{endpoint}/rotate", headers=bearer(token)
        )
        sent = await gateway.client.post(f"/me/webhooks/{endpoint}/test", headers=bearer(token))
        log = await gateway.client.get(f"/me/webhooks/{endpoint}/deliveries", headers=bearer(token))
        operator = await gateway.client.get("/me/webhooks", headers=ADMIN)
        bad = await gateway.client.post(
            "/me/webhooks", headers=bearer(token), json={**body, "events": ["nope"]}
        )
        deleted = await gateway.client.delete(f"/me/webhooks/{endpoint}", headers=bearer(token))
        again = await gateway.client.delete(f"/me/webhooks/{endpoint}", headers=bearer(token))
        records = await audit_of(gateway, token, 2, kind=["webhook.created", "webhook.rotated"])
    assert created.status_code == 201
    assert created.json()["secret"].startswith("whsec_")
    assert created.headers["cache-control"] == "no-store"
    assert "secret" not in listed.json()["items"][0]
    assert stolen.status_code == 404
    assert stolen.json()["error"] == "EndpointNotFound"
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != created.json()["secret"]
    assert sent.status_code == 202
    assert log.json()["items"][0]["event_id"] == sent.json()["event_id"]
    assert operator.status_code == 403
    assert (bad.status_code, bad.json()["error"]) == (400, "UnknownEventType")
    assert (deleted.status_code, again.status_code) == (204, 404)
    assert {r["kind"] for r in records} == {"webhook.created", "webhook.rotated"}
    assert created.json()["secret"] not in json.dumps(records)
    assert "receivers-own" not in json.dumps(records)  # a token in the query stays out
    assert records[-1]["detail"]["url"] == "http://127.0.0.1:9/hook"


async def test_a_failed_sign_in_with_a_used_link_is_on_its_users_chain(tmp_path: Path) -> None:
    async with platform(tmp_path) as gateway:
        link = await _link(gateway, "ada@example.com")
        first = await gateway.client.post(
            "/auth/verify", json={"token": link}, headers={"Accept": "application/json"}
        )
        token = first.json()["token"]
        again = await gateway.client.post(
            "/auth/verify", json={"token": link}, headers={"Accept": "application/json"}
        )
        garbage = await gateway.client.post(
            "/auth/verify", json={"token": "not-a-token"}, headers={"Accept": "application/json"}
        )
        records = await audit_of(gateway, token, 2)
    assert (again.status_code, garbage.status_code) == (401, 401)
    failed = [r for r in records if r["kind"] == "auth.sign_in_failed"]
    assert [(r["outcome"], r["detail"]["error"]) for r in failed] == [
        ("refused", "LinkAlreadyUsed")
    ]  # the garbage names nobody: it is on the platform's chain, not ada's


async def _link(gateway: Gateway, email: str) -> str:
    return httpx.URL(await sign_in_link(gateway.app, email)).params["token"]
