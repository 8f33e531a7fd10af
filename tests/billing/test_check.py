"""Billing's part of the reconciliation check against the real provisioner (fake provider): a
subscription and an instance made to disagree on purpose, each way.

Rows are written by hand in each service's own database (as a lost event would leave them); no
Stripe call is made, so Stripe is not needed (the key is a placeholder that is never used).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import nats
import pytest
from faststream import TestApp
from nats.aio.client import Client as NatsClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from billing.app import create_app as create_billing
from billing.settings import BillingSettings
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.ops import CheckBilling, CheckReport, DriftKind, Finding
from claudecloud_common.rpc import RemoteError, request_on
from provisioner.app import create_app as create_provisioner
from provisioner.settings import ProvisionerSettings
from tests.support import create_database, drop_database

pytestmark = pytest.mark.integration


async def sql(url: str, statement: str, **values: Any) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement), values)
    finally:
        await engine.dispose()


@dataclass
class Stack:
    billing_db: str
    provisioner_db: str
    bus: NatsClient

    async def check(self, *, fix: bool = False) -> CheckReport:
        return await request_on(self.bus, CheckBilling(fix=fix), timeout=20)

    async def subscription(self, user_id: UUID, status: str) -> str:
        subscription_id = f"sub_{uuid4().hex[:12]}"
        await sql(
            self.billing_db,
            "INSERT INTO subscriptions (id, user_id, stripe_customer_id, plan, status,"
            " grace_ended, created_at, updated_at)"
            " VALUES (:id, :user_id, 'cus_check', 'starter', :status, false, now(), now())",
            id=subscription_id,
            user_id=user_id,
            status=status,
        )
        return subscription_id

    async def instance(self, user_id: UUID, status: str) -> None:
        await sql(
            self.provisioner_db,
            "INSERT INTO instances (id, user_id, status, provider, created_at, updated_at)"
            " VALUES (:id, :user_id, :status, 'fake', now(), now())",
            id=uuid4(),
            user_id=user_id,
            status=status,
        )


def kind(report: CheckReport, wanted: DriftKind) -> Finding:
    [found] = [f for f in report.findings if f.kind is wanted]
    return found


@pytest.fixture
async def stack(nats_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    billing_db = await create_database("cc_check_billing")
    provisioner_db = await create_database("cc_check_provisioner")
    billing = BillingSettings(
        data_dir=tmp_path,
        database_url=billing_db,
        nats_url=nats_url,
        billing_enabled=True,
        stripe_secret_key="sk_test_never_used",
        stripe_webhook_secret="whsec_never_used",
        stripe_api_base="http://127.0.0.1:9",  # nothing listens: a call would fail, none is made
    )
    provisioner = ProvisionerSettings(
        data_dir=tmp_path,
        provider="fake",
        database_url=provisioner_db,
        nats_url=nats_url,
        check_interval_seconds=0,
    )
    bus = await nats.connect(nats_url)
    try:
        async with contextlib.AsyncExitStack() as started:
            await started.enter_async_context(TestApp(create_provisioner(provisioner)))
            await started.enter_async_context(TestApp(create_billing(billing)))
            yield Stack(billing_db, provisioner_db, bus)
    finally:
        await bus.close()
        await drop_database(billing_db)
        await drop_database(provisioner_db)


async def test_subscriptions_that_match_their_instances_are_clean(stack: Stack) -> None:
    running, paused = uuid4(), uuid4()
    await stack.subscription(running, "active")
    await stack.instance(running, "running")
    await stack.subscription(paused, "canceled")
    await stack.instance(paused, "paused")  # canceled and paused: as it should be

    report = await stack.check()
    assert report.service == "billing"
    assert [(f.kind, f.count) for f in report.findings] == [
        (DriftKind.SUBSCRIPTION_WITHOUT_INSTANCE, 0),
        (DriftKind.CANCELED_WITH_RUNNING, 0),
        (DriftKind.STRIPE_EVENT_PARKED, 0),
    ]
    assert report.outbox.stale == 0


async def test_an_active_subscription_with_no_instance_is_found(stack: Stack) -> None:
    user_id = uuid4()
    await stack.subscription(user_id, "canceled")  # an old one, replaced by the active one
    active = await stack.subscription(user_id, "active")
    await stack.instance(user_id, "destroyed")

    found = kind(await stack.check(), DriftKind.SUBSCRIPTION_WITHOUT_INSTANCE)
    assert (found.count, found.samples, found.fixable) == (1, [active], False)


async def test_a_canceled_subscription_with_a_running_instance_is_found(stack: Stack) -> None:
    user_id = uuid4()
    canceled = await stack.subscription(user_id, "canceled")
    await stack.instance(user_id, "running")

    found = kind(await stack.check(fix=True), DriftKind.CANCELED_WITH_RUNNING)
    assert (found.count, found.samples, found.fixed) == (1, [canceled], 0)  # left for a person


async def test_a_stripe_event_billing_gave_up_on_is_found_until_handled(stack: Stack) -> None:
    parked, handled = f"evt_{uuid4().hex[:12]}", f"evt_{uuid4().hex[:12]}"
    for event_id, processed in ((parked, None), (handled, utcnow())):
        await sql(
            stack.billing_db,
            "INSERT INTO stripe_events (id, type, created, payload, received_at, processed_at,"
            " attempts, last_error, parked_at) VALUES (:id, 'customer.subscription.updated', 1,"
            " '', now(), :processed, 12, 'StripeUnavailable: down', now())",
            id=event_id,
            processed=processed,
        )

    found = kind(await stack.check(fix=True), DriftKind.STRIPE_EVENT_PARKED)
    assert (found.count, found.samples, found.fixed) == (1, [parked], 0)  # left for a person
    assert found.detail is not None
    assert "resend" in found.detail


async def test_with_billing_off_there_is_nothing_to_compare(nats_url: str, tmp_path: Path) -> None:
    database = await create_database("cc_check_billing")
    settings = BillingSettings(data_dir=tmp_path, database_url=database, nats_url=nats_url)
    try:
        async with TestApp(create_billing(settings)):
            stack = Stack(database, "", await nats.connect(nats_url))
            try:
                report = await stack.check()
            finally:
                await stack.bus.close()
    finally:
        await drop_database(database)
    assert [(f.kind, f.count) for f in report.findings] == [(DriftKind.STRIPE_EVENT_PARKED, 0)]
    assert "off" in report.notes["billing"]


async def test_without_the_provisioner_the_check_says_who_did_not_answer(
    nats_url: str, tmp_path: Path
) -> None:
    database = await create_database("cc_check_billing")
    settings = BillingSettings(
        data_dir=tmp_path,
        database_url=database,
        nats_url=nats_url,
        billing_enabled=True,
        stripe_secret_key="sk_test_never_used",
        stripe_webhook_secret="whsec_never_used",
    )
    try:
        async with TestApp(create_billing(settings)):
            stack = Stack(database, "", await nats.connect(nats_url))
            try:
                await stack.subscription(uuid4(), "active")
                with pytest.raises(RemoteError) as refused:
                    await request_on(stack.bus, CheckBilling(), timeout=60)
            finally:
                await stack.bus.close()
    finally:
        await drop_database(database)
    assert refused.value.detail.startswith("the provisioner did not answer rpc.ops.instances")
