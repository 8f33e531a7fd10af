"""The bus documented at ``/docs/asyncapi``: every subject a service subscribes to or publishes
is there with its schema and an example that matches it, so a new subject cannot go
undocumented; the page runs no script and says what it may load."""

from __future__ import annotations

import html
import importlib
import inspect
import secrets
import typing
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from fastapi import FastAPI
from faststream.nats import NatsBroker

from claudecloud_common.contracts.base import Query
from claudecloud_common.contracts.catalogue import CATALOGUE, SUBJECT_ENUMS, channel_for
from devstack.services import SERVICES
from gateway.app import create_app
from gateway.asyncapi import cli_line
from gateway.settings import GatewaySettings


def _gateway(tmp_path: Path, **overrides: Any) -> FastAPI:
    return create_app(
        GatewaySettings(
            data_dir=tmp_path,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
            jwt_secret=secrets.token_urlsafe(48),
            admin_api_key=secrets.token_urlsafe(48),
            credentials_key=secrets.token_urlsafe(48),
            smtp_host="smtp.example",
            **overrides,
        )
    )


async def _get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(path)


@pytest.fixture
async def document(tmp_path: Path) -> dict[str, Any]:
    response = await _get(_gateway(tmp_path), "/docs/asyncapi.json")
    assert response.status_code == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    found: dict[str, Any] = response.json()
    return found


CONFIGURATIONS = {
    "demo": {"PROVISIONER_PROVIDER": "fake", "BILLING_ENABLED": "false"},
    # Everything on: the mesh saga (netbird) and billing's entitlements subscribe to more.
    "hetzner with billing": {
        "PROVISIONER_PROVIDER": "hetzner",
        "HCLOUD_TOKEN": "test-token",
        "NETBIRD_API_TOKEN": "test-token",
        "TERRAFORM_DIR": str(Path(__file__).parents[2] / "terraform"),
        "BILLING_ENABLED": "true",
        "BILLING_STRIPE_STANDIN": "false",
        "STRIPE_SECRET_KEY": "sk_test_not_used",  # nothing is called: the app is only wired
        "STRIPE_WEBHOOK_SECRET": "whsec_not_used",
    },
}


def brokers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, NatsBroker]]:
    """Every service of the platform in each configuration, wired as it starts (nothing
    connects), and its broker."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    for environ in CONFIGURATIONS.values():
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        yield from _brokers()


def _brokers() -> Iterator[tuple[str, NatsBroker]]:
    for service in SERVICES:
        app = importlib.import_module(f"{service.module}.app").create_app()
        broker = app.state.gateway.broker if isinstance(app, FastAPI) else app.broker
        yield service.name, broker


def subscribed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """Each subject some service subscribes to, and who does."""
    found: dict[str, set[str]] = {}
    for name, broker in brokers(tmp_path, monkeypatch):
        for subscriber in broker.subscribers:
            found.setdefault(subscriber.subject.template, set()).add(name)  # type: ignore[attr-defined]
    return found


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` one token, ``>`` the rest."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)


def enum_subjects() -> set[str]:
    members: list[StrEnum] = [member for enum in SUBJECT_ENUMS for member in enum]
    return {str(m) for m in members}


async def test_every_subject_the_services_use_is_documented(
    document: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    documented = {c["address"] for c in document["channels"].values() if c["address"]}
    concrete = {s for s in enum_subjects() if "*" not in s and ">" not in s}
    used = subscribed(tmp_path, monkeypatch)
    assert {"provisioner", "gateway", "billing", "activity", "netbird"} <= {
        name for names in used.values() for name in names
    }
    assert {"evt.netbird.prepared", "evt.billing.subscription.>"} <= set(used)  # all configured
    missing = sorted(concrete - documented)
    assert not missing, f"add these subjects to contracts/catalogue.py: {missing}"
    for subject, services in used.items():
        if "*" in subject or ">" in subject:
            covered = [s for s in documented if matches(subject, s)]
            assert covered, f"{subject} ({services}): no documented subject under it"
        else:
            assert subject in documented, f"{subject} ({services}) is not documented"


def test_every_subject_enum_is_in_the_catalogue() -> None:
    # A new module of contracts brings its own enum of subjects: it belongs in SUBJECT_ENUMS.
    from claudecloud_common import contracts

    package = Path(contracts.__file__).parent
    enums = set()
    for path in package.glob("*.py"):
        module = importlib.import_module(f"claudecloud_common.contracts.{path.stem}")
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, StrEnum) and any(
                str(m).startswith(("cmd.", "evt.", "rpc.")) for m in value
            ):
                enums.add(value)
    assert enums == set(SUBJECT_ENUMS)


def test_every_rpc_subject_is_asked_by_one_query_that_names_its_answer() -> None:
    queries: dict[str, type[Query[Any]]] = {}
    for channel in CATALOGUE:
        if channel.kind == "rpc":
            assert isinstance(channel.example, Query), channel.subject
            assert channel.example.subject == channel.subject
            assert isinstance(channel.reply, channel.example.reply), channel.subject
            queries[str(channel.subject)] = type(channel.example)
    rpc = {str(m) for m in enum_subjects() if m.startswith("rpc.")}
    assert set(queries) == rpc
    assert len(set(queries.values())) == len(queries), "one query class per subject"


async def test_the_schemas_are_what_the_handlers_take(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, broker in brokers(tmp_path, monkeypatch):
        for subscriber in broker.subscribers:
            subject = subscriber.subject.template  # type: ignore[attr-defined]
            channel = channel_for(subject)
            if channel is None:
                continue  # a wildcard: checked above
            handler = inspect.unwrap(subscriber.calls[0].handler._original_call)
            first = next(iter(inspect.signature(handler).parameters))
            taken = typing.get_type_hints(handler)[first]
            assert taken is type(channel.example), (name, subject)


async def test_each_message_has_a_schema_and_an_example_that_matches_it(
    document: dict[str, Any],
) -> None:
    components = document["components"]
    for key, channel in document["channels"].items():
        for ref in channel["messages"].values():
            message = components["messages"][ref["$ref"].rsplit("/", 1)[1]]
            schema = {"components": components, **message["payload"]}
            resolved = components["schemas"][message["payload"]["$ref"].rsplit("/", 1)[1]]
            assert resolved.get("properties") or resolved.get("type") == "object", key
            assert message["examples"], key
            assert resolved["examples"], key
            jsonschema.validate(resolved["examples"][0], schema)
            for example in message["examples"]:
                jsonschema.validate(example["payload"], schema)


async def test_an_rpc_documents_its_answer(document: dict[str, Any]) -> None:
    operation = document["operations"]["rpc-instance-get"]
    assert operation["action"] == "receive"
    reply = document["components"]["messages"]["rpc-instance-get-reply"]
    example = reply["examples"][0]["payload"]
    assert example["error"] is None
    assert example["result"]["status"] == "running"
    assert document["operations"]["evt-instance-running"]["action"] == "send"


async def test_the_page_lists_every_subject_and_loads_nothing(tmp_path: Path) -> None:
    response = await _get(_gateway(tmp_path), "/docs/asyncapi")
    assert response.status_code == 200
    for channel in CATALOGUE:
        assert f"<code>{channel.subject}</code>" in response.text
        assert html.escape(cli_line(channel)) in response.text
    pause = cli_line(next(c for c in CATALOGUE if c.subject == "cmd.instance.pause"))
    assert pause.startswith('nats pub cmd.instance.pause \'{"instance_id":')  # bare JSON
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy  # falls back to 'none': no script runs
    assert "<script" not in response.text
    assert "'unsafe-inline'" not in policy


async def test_production_serves_no_bus_docs(tmp_path: Path) -> None:
    app = _gateway(tmp_path, environment="production")
    for path in ("/docs/asyncapi", "/docs/asyncapi.json"):
        assert (await _get(app, path)).status_code == 404, path
