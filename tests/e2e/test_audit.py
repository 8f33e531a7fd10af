"""The audit log end to end, on the platform's real processes (as ``make run`` starts them) with
workstations whose agents are real agent processes (the kubernetes provider against its
stand-in API server): a user signs in, creates a workstation, opens its terminal, reads a file,
stores a Claude key, and an operator replays a dead letter about that workstation. The user
reads exactly those records (and none of another user's), and a row edited in the audit
service's database is named by ``claude-cloud-admin audit verify``."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from claudecloud_admin.main import app as admin
from typer.testing import CliRunner, Result

from devstack.signin import sign_in_from_log
from tests.provisioner.lifecycle.conftest import OnKubernetes, kubernetes_platform
from tests.support import eventually
from tests.ttyd import Terminal

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

OPERATOR = "ops@example.com"
EXPECTED = [
    "auth.sign_in",
    "instance.command",
    "terminal.opened",
    "terminal.closed",
    "file.read",
    "credential.set",
    "operator.dead_letter_replayed",
]


@pytest.fixture(scope="module")
async def workstations(
    tmp_path_factory: pytest.TempPathFactory, request: Any
) -> AsyncIterator[OnKubernetes]:
    async with kubernetes_platform(tmp_path_factory.mktemp("audit"), request) as found:
        yield found


async def operator(platform: OnKubernetes, *args: str) -> Result:
    """``claude-cloud-admin`` as an operator runs it against this platform's bus."""
    url = platform.platform.stack.config.resolved_nats_url
    argv = ["--nats", url, "--operator", OPERATOR, *args]
    return await asyncio.to_thread(lambda: CliRunner().invoke(admin, argv))


class Person:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token
        self.api = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "audit-e2e/1.0"},
            timeout=60,
        )

    async def audit(self, count: int) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]] | None:
            found = await self.api.get("/me/audit", params={"limit": 100})
            assert found.status_code == 200, found.text
            items: list[dict[str, Any]] = found.json()["items"]
            return items if len(items) >= count else None

        found: list[dict[str, Any]] = await eventually(
            enough, timeout=60, what=f"{count} audit records"
        )
        return found


async def sign_in(platform: OnKubernetes, email: str) -> Person:
    config = platform.platform.stack.config
    assert config.log_dir is not None
    base_url = f"http://127.0.0.1:{config.port}"
    return Person(base_url, await sign_in_from_log(base_url, config.log_dir / "gateway.log", email))


async def dead_letter_about(platform: OnKubernetes, instance_id: str) -> int:
    """A pause of ``instance_id`` nobody can read (the provisioner dead-letters it at once);
    its sequence on the DLQ stream."""
    nc = await nats.connect(platform.platform.stack.config.resolved_nats_url)
    try:
        js = nc.jetstream()
        marker = str(uuid.uuid4())
        body = json.dumps({"instance_id": instance_id, "keep_memory": "not a boolean"}).encode()
        await js.publish("cmd.instance.pause", body, headers={"Nats-Msg-Id": marker})

        async def lettered() -> int | None:
            try:
                found = await js.get_last_msg("DLQ", "dlq.cmd.instance.pause")
            except nats.js.errors.NotFoundError:
                return None
            return found.seq if instance_id.encode() in (found.data or b"") else None

        seq: int = await eventually(lettered, timeout=60, what="the pause dead-lettered")
        return seq
    finally:
        await nc.close()


async def test_a_users_acts_are_their_audit_log_and_an_edited_row_is_named(
    workstations: OnKubernetes,
) -> None:
    ada = await sign_in(workstations, "ada@example.com")
    bob = await sign_in(workstations, "bob@example.com")
    try:
        created = await ada.api.post("/instances")
        assert created.status_code == 202, created.text
        instance_id, ada_id = created.json()["id"], created.json()["user_id"]
        await workstations.platform.wait_status(instance_id, "running", timeout=120)

        url = ada.base_url.replace("http://", "ws://") + f"/instances/{instance_id}/terminal"
        terminal = await Terminal.open(url, headers={"Authorization": f"Bearer {ada.token}"})
        await terminal.wait_for(lambda text: bool(text.strip()), timeout=60)
        await terminal.close()

        await workstations.write(uuid.UUID(ada_id), "notes.md", "plans")
        read = await ada.api.get(
            f"/instances/{instance_id}/files/read", params={"path": "notes.md"}
        )
        assert read.status_code == 200, read.text
        key = {"kind": "api_key", "value": "sk-ant-api03-" + "k" * 40}
        assert (await ada.api.put("/me/claude-credential", json=key)).status_code == 200

        seq = await dead_letter_about(workstations, instance_id)
        replayed = await operator(workstations, "dead-letters", "replay", str(seq))
        assert replayed.exit_code == 0, replayed.output

        assert (await bob.api.post("/instances")).status_code == 202  # not in ada's log

        records = await ada.audit(len(EXPECTED))
    finally:
        await ada.api.aclose()
        await bob.api.aclose()

    assert sorted(r["kind"] for r in records) == sorted(EXPECTED)
    assert {r["user_id"] for r in records} == {ada_id}
    assert sorted(r["seq"] for r in records) == list(range(1, len(EXPECTED) + 1))
    by_kind = {r["kind"]: r for r in records}
    assert by_kind["instance.command"]["detail"]["command"] == "create"
    assert by_kind["instance.command"]["origin"]["user_agent"] == "audit-e2e/1.0"
    assert by_kind["terminal.closed"]["detail"]["seconds"] >= 0
    assert by_kind["file.read"]["detail"] == {"path": "notes.md", "status": 200}
    assert by_kind["credential.set"]["detail"] == {"credential": "api_key"}
    replay = by_kind["operator.dead_letter_replayed"]
    assert replay["actor"] == {"kind": "operator", "id": OPERATOR}
    assert replay["instance_id"] == instance_id
    assert "k" * 40 not in json.dumps(records)

    exported = await operator(workstations, "audit", "--user", ada_id, "--json")
    assert exported.exit_code == 0, exported.output
    assert len(exported.output.splitlines()) == len(EXPECTED)
    intact = await operator(workstations, "audit", "verify", "--user", ada_id)
    assert intact.exit_code == 0, intact.output

    read_record = by_kind["file.read"]
    _edit(workstations, read_record["event_id"])
    broken = await operator(workstations, "audit", "verify", "--user", ada_id)
    assert broken.exit_code == 1, broken.output
    assert f"edited: record {read_record['seq']} (file.read)" in broken.output
    everyone = await operator(workstations, "audit", "verify")
    assert everyone.exit_code == 1
    assert ada_id in everyone.output


def _edit(platform: OnKubernetes, event_id: str) -> None:
    """Change what a record says, straight in the audit service's database (SQLite here)."""
    [database] = Path(platform.platform.stack.config.data_dir).glob("**/audit.db")
    with sqlite3.connect(database) as connection:
        changed = connection.execute(
            "UPDATE audit_records SET detail = ? WHERE event_id = ?",
            ('{"path":"someone-elses.md","status":200}', uuid.UUID(event_id).hex),
        ).rowcount
    assert changed == 1
