"""Usage samples: counted once per sample id in the user's period, and the hours beyond the plan
reported to the Stripe meter once, however often a sample is delivered."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from nats.aio.client import Client as NatsClient

from billing.service import BillingService
from billing.settings import DEFAULT_PLANS
from billing.stripe_api import StripeSubscription
from claudecloud_common.contracts.activity import UsageKind, UsageSample
from claudecloud_common.db import Database
from tests.billing.conftest import BillingFactory, Stripe, instances, status, subscribe
from tests.provisioner_app import ProvisionerFactory
from tests.support import eventually, free_port, stream_messages

pytestmark = pytest.mark.integration

ONE_HOUR_PLANS = {
    name: plan.model_copy(update={"included_hours": 1.0}) for name, plan in DEFAULT_PLANS.items()
}


async def publish(bus: NatsClient, sample: UsageSample) -> None:
    await bus.jetstream().publish(
        str(sample.subject),
        sample.model_dump_json().encode(),
        headers={"Nats-Msg-Id": str(sample.id)},
    )


async def drained(bus: NatsClient) -> bool:
    info = await bus.jetstream().consumer_info("EVT", "billing-evt-activity-usage")
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


async def test_a_sample_delivered_twice_counts_once_locally_and_at_the_meter(
    bus: NatsClient,
    local_stripe: Stripe,
    billing: BillingFactory,
    provisioner: ProvisionerFactory,
) -> None:
    user = uuid.uuid4()
    async with billing(plans=ONE_HOUR_PLANS), provisioner():
        await subscribe(bus, local_stripe, user)
        instance = (await instances(bus, user)).items[0].id
        first, second = uuid.uuid4(), uuid.uuid4()
        await publish(
            bus, UsageSample(user_id=user, instance_id=instance, seconds=3000, sample_id=first)
        )
        await eventually(lambda: drained(bus), what="the first sample handled")
        # The next observation, delivered twice at once as two messages: JetStream cannot drop
        # the second as a duplicate (another message id), and both are handled concurrently.
        for _ in range(2):
            await publish(
                bus,
                UsageSample(user_id=user, instance_id=instance, seconds=1200, sample_id=second),
            )
        await eventually(lambda: drained(bus), what="every sample handled")
        now = await status(bus, user)
        meter = await eventually(
            lambda: _meter_events_of(local_stripe, str(second)), what="the overage reported"
        )

    assert now.hours_used == pytest.approx(4200 / 3600, abs=1e-3)
    assert now.hours_included == 1.0
    everything = (await local_stripe.get("/_standin/meter_events"))["data"]
    ours = [e for e in everything if e["identifier"] in (str(first), str(second))]
    assert ours == meter
    assert len(meter) == 1  # the first sample was within the included hour
    assert meter[0]["payload"]["value"] == "600"  # 4200 s used, 3600 s included
    assert meter[0]["event_name"] == "claudecloud_overage_seconds"


async def _meter_events_of(local_stripe: Stripe, identifier: str) -> list[dict[str, object]]:
    found = (await local_stripe.get("/_standin/meter_events"))["data"]
    return [e for e in found if e["identifier"] == identifier]


async def test_a_new_billing_period_starts_a_new_total(
    billing: BillingFactory, billing_db: str
) -> None:
    user, sub_id = uuid.uuid4(), f"sub_periods_{uuid.uuid4().hex[:8]}"
    first = datetime(2026, 1, 1, tzinfo=UTC)
    second = datetime(2026, 2, 1, tzinfo=UTC)

    def stripe_says(start: datetime, end: datetime) -> StripeSubscription:
        return StripeSubscription(
            id=sub_id,
            customer="cus_periods",
            status="active",
            price_id=DEFAULT_PLANS["starter"].price_id,
            metadata={"user_id": str(user)},
            current_period_start=start,
            current_period_end=end,
        )

    def used(seconds: float) -> UsageSample:
        return UsageSample(
            user_id=user, instance_id=uuid.uuid4(), seconds=seconds, sample_id=uuid.uuid4()
        )

    async with billing() as settings:  # migrated, and its relay publishes what is written here
        db = Database(billing_db)
        try:
            async with db.transaction() as session:
                await BillingService(session, settings).sync_subscription(
                    stripe_says(first, second)
                )
            async with db.transaction() as session:
                await BillingService(session, settings).add_usage(used(1800))
            async with db.read() as session:
                in_january = await BillingService(session, settings).status(user)
            async with db.transaction() as session:
                await BillingService(session, settings).sync_subscription(
                    stripe_says(second, datetime(2026, 3, 1, tzinfo=UTC))
                )
            async with db.read() as session:
                renewed = await BillingService(session, settings).status(user)
            async with db.transaction() as session:
                await BillingService(session, settings).add_usage(used(900))
            async with db.read() as session:
                in_february = await BillingService(session, settings).status(user)
        finally:
            await db.dispose()

    assert in_january.hours_used == 0.5
    assert renewed.hours_used == 0.0
    assert renewed.current_period_start == second
    assert in_february.hours_used == 0.25


async def test_usage_while_stripe_is_down_counts_at_once_and_reaches_the_meter_later(
    bus: NatsClient,
    nats_url: str,
    local_stripe: Stripe,
    billing: BillingFactory,
    provisioner: ProvisionerFactory,
) -> None:
    user, sample_id = uuid.uuid4(), uuid.uuid4()
    async with provisioner():
        async with billing(plans=ONE_HOUR_PLANS):
            await subscribe(bus, local_stripe, user)
            instance = (await instances(bus, user)).items[0].id
        stripe_down = f"http://127.0.0.1:{free_port()}"
        async with billing(plans=ONE_HOUR_PLANS, stripe_api_base=stripe_down, sweep_seconds=3600):
            sample = UsageSample(
                user_id=user, instance_id=instance, seconds=4000, sample_id=sample_id
            )
            await publish(bus, sample)
            await eventually(lambda: drained(bus), what="the sample handled")
            counted = await status(bus, user)
            assert not await _meter_events_of(local_stripe, str(sample_id))
        dead = await stream_messages(nats_url, "DLQ", "dlq.evt.activity.usage")
        assert not [m for m in dead if str(sample_id) in m.data.decode()]

        async with billing(plans=ONE_HOUR_PLANS):  # Stripe answers again: the sweeper sends it
            meter = await eventually(
                lambda: _meter_events_of(local_stripe, str(sample_id)), what="the overage reported"
            )
    assert counted.hours_used == pytest.approx(4000 / 3600, abs=1e-3)
    assert [e["payload"]["value"] for e in meter] == ["400"]


HALF_WEIGHT_PLANS = {
    name: plan.model_copy(update={"included_hours": 1.0, "frozen_hour_weight": 0.5})
    for name, plan in DEFAULT_PLANS.items()
}


async def test_frozen_time_is_kept_apart_and_counts_by_the_plans_weight(
    bus: NatsClient,
    local_stripe: Stripe,
    billing: BillingFactory,
    provisioner: ProvisionerFactory,
) -> None:
    user = uuid.uuid4()
    async with billing(plans=HALF_WEIGHT_PLANS), provisioner():
        await subscribe(bus, local_stripe, user)
        instance = (await instances(bus, user)).items[0].id
        ran, froze = uuid.uuid4(), uuid.uuid4()
        await publish(
            bus, UsageSample(user_id=user, instance_id=instance, seconds=3000, sample_id=ran)
        )
        await eventually(lambda: drained(bus), what="the running sample handled")
        for _ in range(2):  # the same frozen interval, delivered twice as two messages
            await publish(
                bus,
                UsageSample(
                    user_id=user,
                    instance_id=instance,
                    seconds=2400,
                    sample_id=froze,
                    kind=UsageKind.FROZEN,
                ),
            )
        await eventually(lambda: drained(bus), what="every sample handled")
        now = await status(bus, user)
        meter = await eventually(
            lambda: _meter_events_of(local_stripe, str(froze)), what="the overage reported"
        )

    assert now.running_hours == pytest.approx(3000 / 3600, abs=1e-3)
    assert now.frozen_hours == pytest.approx(2400 / 3600, abs=1e-3)  # counted once
    assert now.frozen_hour_weight == 0.5
    assert now.hours_used == pytest.approx((3000 + 1200) / 3600, abs=1e-3)
    assert [e["payload"]["value"] for e in meter] == ["600"]  # 4200 weighted s, 3600 included


async def test_frozen_time_is_free_by_default(billing: BillingFactory, billing_db: str) -> None:
    user = uuid.uuid4()
    start = datetime(2026, 3, 1, tzinfo=UTC)
    current = StripeSubscription(
        id=f"sub_frozen_{uuid.uuid4().hex[:8]}",
        customer="cus_frozen",
        status="active",
        price_id=DEFAULT_PLANS["starter"].price_id,
        metadata={"user_id": str(user)},
        current_period_start=start,
        current_period_end=datetime(2026, 4, 1, tzinfo=UTC),
    )

    def used(seconds: float, kind: UsageKind) -> UsageSample:
        return UsageSample(
            user_id=user,
            instance_id=uuid.uuid4(),
            seconds=seconds,
            sample_id=uuid.uuid4(),
            kind=kind,
        )

    async with billing() as settings:
        db = Database(billing_db)
        try:
            async with db.transaction() as session:
                await BillingService(session, settings).sync_subscription(current)
            for sample in (used(1800, UsageKind.RUNNING), used(7200, UsageKind.FROZEN)):
                async with db.transaction() as session:
                    await BillingService(session, settings).add_usage(sample)
            async with db.read() as session:
                seen = await BillingService(session, settings).status(user)
        finally:
            await db.dispose()

    assert (seen.running_hours, seen.frozen_hours) == (0.5, 2.0)
    assert seen.frozen_hour_weight == 0.0
    assert seen.hours_used == 0.5
