"""``claude-cloud-admin check`` as an operator runs it, against a platform in this process: the
real provisioner (fake provider), activity and billing (off), no netbird (no mesh without hetzner).

The platform has a NATS server of its own (devstack's, on a free port, stopped with the module):
the check counts every dead letter on the DLQ stream and asks whoever answers ``rpc.ops.check.*``,
so the suite's shared server, where other tests dead-letter on purpose, could never be clean.
Each test has fresh databases. Drift is made on purpose; every kind the services find has its
own test beside the service (tests/<service>/test_check.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import nats
import pytest
from claudecloud_admin.main import app
from faststream import TestApp
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner, Result

from activity.app import create_app as create_activity
from activity.settings import ActivitySettings
from audit.app import create_app as create_audit
from audit.settings import AuditSettings
from billing.app import create_app as create_billing
from billing.settings import BillingSettings
from claudecloud_common.contracts.base import utcnow
from devstack.servers import NatsServer
from provisioner.app import create_app as create_provisioner
from provisioner.providers.fake import read_state
from provisioner.settings import ProvisionerSettings
from tests.support import create_database, drop_database, eventually, free_port
from webhooks.app import create_app as create_webhooks
from webhooks.settings import WebhooksSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_nats() -> Iterator[str]:
    with NatsServer() as server:
        yield server.url


@dataclass
class Platform:
    nats_url: str
    provisioner_db: str
    data_dir: Path
    bus: NatsClient

    async def admin(self, *args: str) -> Result:
        """``claude-cloud-admin --nats URL ARGS`` (its own event loop, so in a thread)."""
        argv = ["--nats", self.nats_url, *args]

        def invoke() -> Result:
            return CliRunner().invoke(app, argv)

        return await asyncio.to_thread(invoke)

    async def sql(self, statement: str, **values: Any) -> None:
        engine = create_async_engine(self.provisioner_db)
        try:
            async with engine.begin() as connection:
                await connection.execute(text(statement), values)
        finally:
            await engine.dispose()

    def machine_by_hand(self) -> str:
        """A machine with our labels and no instance (the fake provider's state file)."""
        user_id = uuid4()
        provider_id = f"fake-{user_id}"
        record = {
            "provider_id": provider_id,
            "host": f"fake-{user_id}.local",
            "agent_secret": "by-hand",
            "volume": True,
            "running": True,
            "instance_id": str(uuid4()),
        }
        with (self.data_dir / "fake-provider.jsonl").open("a") as journal:
            journal.write(json.dumps({"user": str(user_id), "record": record}) + "\n")
        return provider_id


def rows(result: Result) -> dict[tuple[str, str], list[str]]:
    """The table as (kind, service) -> the rest of the row's cells."""
    found = {}
    for line in result.output.splitlines()[1:]:
        cells = line.split()
        if len(cells) >= 4 and cells[2].isdigit():
            found[(cells[0], cells[1])] = cells[2:]
    return found


@contextlib.asynccontextmanager
async def platform(
    nats_url: str, data_dir: Path, *, activity: bool = True
) -> AsyncIterator[Platform]:
    names = ("provisioner", "activity", "billing", "audit", "webhooks")
    urls = {name: await create_database(f"cc_admin_check_{name}") for name in names}
    common: dict[str, Any] = {"data_dir": data_dir, "nats_url": nats_url}
    bus = await nats.connect(nats_url)
    try:
        async with contextlib.AsyncExitStack() as started:
            provisioner = ProvisionerSettings(
                **common,
                database_url=urls["provisioner"],
                provider="fake",
                reconcile_on_start=False,  # the hand-made drift stays for the check to find
                check_interval_seconds=0,
                stuck_after_seconds=600,
            )
            await started.enter_async_context(TestApp(create_provisioner(provisioner)))
            if activity:
                settings = ActivitySettings(**common, database_url=urls["activity"])
                await started.enter_async_context(TestApp(create_activity(settings)))
            billing = BillingSettings(**common, database_url=urls["billing"])
            await started.enter_async_context(TestApp(create_billing(billing)))
            audit = AuditSettings(**common, database_url=urls["audit"])
            await started.enter_async_context(TestApp(create_audit(audit)))
            webhooks = WebhooksSettings(**common, database_url=urls["webhooks"])
            await started.enter_async_context(TestApp(create_webhooks(webhooks)))
            yield Platform(nats_url, urls["provisioner"], data_dir, bus)
    finally:
        await bus.close()
        for url in urls.values():
            await drop_database(url)


async def test_a_clean_platform_exits_0_and_says_netbird_is_not_there(
    own_nats: str, tmp_path: Path
) -> None:
    async with platform(own_nats, tmp_path) as p:
        result = await p.admin("check")
    assert result.exit_code == 0, result.output
    table = rows(result)
    for kind, service in [
        ("machine_without_row", "provisioner"),
        ("row_without_machine", "provisioner"),
        ("stuck_transition", "provisioner"),
        ("usage_open_on_stopped", "activity"),
        ("running_not_metered", "activity"),
        ("agent_not_answering", "activity"),
        ("outbox_backlog", "billing"),
        ("audit_chain_broken", "audit"),
        ("webhook_delivery_overdue", "webhooks"),
        ("outbox_backlog", "webhooks"),
        ("dead_letters", "bus"),
    ]:
        assert table[(kind, service)][0] == "0", result.output
    assert "note: netbird: not running (provider fake: no mesh to check)" in result.output
    assert "note: billing: billing off" in result.output
    assert result.output.rstrip().endswith("clean")


async def test_drift_exits_1_and_fix_corrects_what_is_safe(own_nats: str, tmp_path: Path) -> None:
    async with platform(own_nats, tmp_path) as p:
        orphan = p.machine_by_hand()
        stuck = uuid4()
        await p.sql(
            "INSERT INTO instances (id, user_id, status, provider, created_at, updated_at)"
            " VALUES (:id, :user_id, 'waking', 'fake', :at, :at)",
            id=stuck,
            user_id=uuid4(),
            at=utcnow() - timedelta(hours=1),
        )

        found = await p.admin("check")
        assert found.exit_code == 1, found.output
        table = rows(found)
        assert table[("machine_without_row", "provisioner")] == ["1", "0", orphan]
        assert table[("stuck_transition", "provisioner")] == ["1", "0", str(stuck), "(waking)"]
        assert "DRIFT FOUND" in found.output

        fixed = await p.admin("check", "--fix")
        assert fixed.exit_code == 0, fixed.output  # everything found was safe to fix
        table = rows(fixed)
        assert table[("machine_without_row", "provisioner")][:2] == ["1", "1"]
        assert table[("stuck_transition", "provisioner")][:2] == ["1", "1"]
        assert (
            orphan.removeprefix("fake-")
            not in read_state(tmp_path / "fake-provider.jsonl")["machines"]
        )

        after = await p.admin("check")
        assert after.exit_code == 0, after.output

        async def recorded() -> list[dict[str, Any]] | None:
            found = await p.admin("audit", "--platform", "--kind", "operator.check_fixed", "--json")
            lines = [json.loads(line) for line in found.output.splitlines()]
            return lines or None

        [fixing] = await eventually(recorded, what="the fix in the platform's audit chain")
    assert fixing["actor"]["kind"] == "operator"
    assert fixing["detail"]["fixed"] == 2
    assert "provisioner/machine_without_row=1" in fixing["detail"]["kinds"]


async def test_a_dead_letter_is_counted_by_its_subject(own_nats: str, tmp_path: Path) -> None:
    async with platform(own_nats, tmp_path) as p:
        # A command nobody can read: the provisioner dead-letters it at once.
        await p.bus.jetstream().publish("cmd.instance.pause", b'{"instance_id": "not-a-uuid"}')

        async def counted() -> Result | None:
            result = await p.admin("check")
            return result if ("dead_letters", "cmd.instance.pause") in rows(result) else None

        result = await eventually(counted, what="the dead letter in the check's table")
        fixing = await p.admin("check", "--fix")
    assert rows(result)[("dead_letters", "cmd.instance.pause")][0] == "1"
    assert result.exit_code == 1
    # Not safe to replay blindly: --fix lists it for a person and still exits 1.
    assert "left for a person:\n  dead_letters (cmd.instance.pause): 1" in fixing.output
    assert fixing.exit_code == 1


async def test_a_service_that_does_not_answer_in_time_is_a_finding_not_a_hang(
    own_nats: str, tmp_path: Path
) -> None:
    async with platform(own_nats, tmp_path, activity=False) as p:

        async def never_answer(msg: Msg) -> None:
            return None  # takes the request and says nothing, like a wedged service

        sub = await p.bus.subscribe("rpc.ops.check.activity", cb=never_answer)
        await p.bus.flush()  # the server has the subscription before the check asks
        try:
            started = time.monotonic()
            result = await p.admin("check", "--timeout", "1")
            elapsed = time.monotonic() - started
        finally:
            await sub.unsubscribe()
    assert result.exit_code == 1
    assert rows(result)[("service_unanswered", "activity")][:2] == ["1", "-"]
    assert "no answer within 1s" in result.output
    assert elapsed < 15


async def test_json_output_for_scripts(own_nats: str, tmp_path: Path) -> None:
    async with platform(own_nats, tmp_path) as p:
        p.machine_by_hand()
        result = await p.admin("check", "--json")
    body = json.loads(result.output)
    assert body["clean"] is False
    [orphans] = [r for r in body["rows"] if r["kind"] == "machine_without_row"]
    assert orphans["count"] == 1
    assert result.exit_code == 1


async def test_no_bus_is_one_clear_line_without_the_credentials() -> None:
    url = f"nats://operator:s3cret-pass@127.0.0.1:{free_port()}"  # nothing listens there

    def invoke() -> Result:
        return CliRunner().invoke(app, ["--nats", url, "check", "--timeout", "1"])

    result = await asyncio.to_thread(invoke)
    assert result.exit_code == 1
    assert "error: the bus at nats://127.0.0.1:" in result.output
    assert "s3cret-pass" not in result.output
    assert "operator" not in result.output
