"""A stored Stripe event that fails to act is tried again after a wait that doubles, and parked
after its last try (or at once, when it cannot be used): the sweeper leaves it, the log says so
once, and the next event is still handled. Billing's parts driven directly, sweep by sweep, on
its own SQLite database (migrated as at start), with Stripe not answering."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from billing.app import MIGRATIONS, BillingParts, build
from billing.models import StripeEvent
from billing.settings import BillingSettings
from billing.stripe_api import parse_event
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.logging import configure_logging
from claudecloud_common.migrations import upgrade_to_head
from tests.support import free_port

pytestmark = pytest.mark.integration

NOW = timedelta(0)


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[BillingParts]:
    settings = BillingSettings(
        data_dir=tmp_path,
        billing_enabled=True,
        stripe_secret_key="sk_test_retries",
        stripe_webhook_secret="whsec_retries",
        stripe_api_base=f"http://127.0.0.1:{free_port()}",  # nobody answers: every try fails
        stripe_max_network_retries=0,
        webhook_max_attempts=3,
        webhook_retry_seconds=60,
    )
    await upgrade_to_head(settings.resolved_database_url, MIGRATIONS, "alembic_version_billing")
    configure_logging(settings)  # as the process does: log lines reach the standard library
    built = build(settings)
    yield built
    await built.api.close()
    await built.db.dispose()


def _event(event_type: str, obj: dict[str, Any]) -> bytes:
    event_id = f"evt_retry_{uuid.uuid4().hex[:12]}"
    body = {
        "id": event_id,
        "created": int(time.time()),
        "type": event_type,
        "data": {"object": obj},
    }
    return json.dumps(body).encode()


async def _row(parts: BillingParts, event_id: str) -> StripeEvent:
    async with parts.db.read() as session:
        row = await parts.billing.service(session).repo.event(event_id)
    assert row is not None
    return row


async def _wait_is_over(parts: BillingParts, event_id: str) -> None:
    """As if the wait after the last failed try had passed."""
    async with parts.db.transaction() as session:
        await session.exec(
            update(StripeEvent)
            .where(StripeEvent.id == event_id)  # type: ignore[arg-type]
            .values(next_attempt_at=utcnow())
        )


def _logged(caplog: pytest.LogCaptureFixture, event: str) -> int:
    return sum(
        1
        for record in caplog.records
        if isinstance(record.msg, dict) and record.msg.get("event") == event
    )


async def test_an_event_that_keeps_failing_waits_longer_each_time_then_is_parked_once(
    parts: BillingParts, caplog: pytest.LogCaptureFixture
) -> None:
    payload = _event(
        "checkout.session.completed",
        {"id": "cs_1", "mode": "subscription", "subscription": "sub_unreadable"},
    )
    event = parse_event(payload)
    waits = []
    await parts.events.receive(event, payload)  # the first try, on delivery: Stripe is down
    for _ in range(2):
        assert await parts.events.handle_pending(older_than=NOW) == 0  # not due yet
        row = await _row(parts, event.id)
        assert row.next_attempt_at is not None
        waits.append((row.next_attempt_at - utcnow()).total_seconds())
        await _wait_is_over(parts, event.id)
        await parts.events.handle_pending(older_than=NOW)  # the next try
    parked = await _row(parts, event.id)
    for waiting_too in (False, False, True):  # more sweeps, a restart's too: nothing is tried
        await parts.events.handle_pending(older_than=NOW, waiting_too=waiting_too)
    after = await _row(parts, event.id)

    assert 55 < waits[0] <= 60  # webhook_retry_seconds...
    assert 115 < waits[1] <= 120  # ...doubled
    assert (parked.attempts, parked.processed_at, parked.next_attempt_at) == (3, None, None)
    assert parked.parked_at is not None
    assert parked.last_error is not None
    assert "StripeUnavailable" in parked.last_error
    assert (after.attempts, after.parked_at) == (3, parked.parked_at)
    assert _logged(caplog, "billing.webhook_deferred") == 2
    assert _logged(caplog, "billing.webhook_parked") == 1


async def test_a_stored_event_that_cannot_be_used_is_parked_at_once_and_the_next_one_handled(
    parts: BillingParts,
) -> None:
    # Stored before billing refused such bodies: no usable event, then one without the
    # subscription's id; after them, one billing leaves alone.
    broken = _event("customer.subscription.updated", {"id": "sub_x"}).replace(
        b'"created": ', b'"created": 1e999, "was": '
    )
    no_id = _event("customer.subscription.updated", {"status": "active"})
    fine = _event("customer.created", {"id": "cus_1"})
    async with parts.db.transaction() as session:
        for payload in (broken, no_id, fine):
            body = json.loads(payload)
            session.add(StripeEvent(id=body["id"], type=body["type"], created=1, payload=payload))

    handled = await parts.events.handle_pending(older_than=NOW)
    rows = [await _row(parts, json.loads(p)["id"]) for p in (broken, no_id, fine)]
    again = await parts.events.handle_pending(older_than=NOW)

    assert handled == 1
    assert rows[2].processed_at is not None
    for row in rows[:2]:
        assert (row.attempts, row.processed_at) == (1, None)
        assert row.parked_at is not None, row.last_error
    assert again == 0
    assert [(await _row(parts, r.id)).attempts for r in rows[:2]] == [1, 1]
