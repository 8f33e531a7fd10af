"""Budget events become webhook events an endpoint subscribed to ``instance.budget_*`` gets."""

from __future__ import annotations

import pytest

from claudecloud_common.contracts import spend_examples as sx
from claudecloud_common.contracts.spend import BudgetEvent
from claudecloud_common.contracts.webhooks import BUDGET_EVENTS
from webhooks.events import outgoing, subscribed, valid

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("event", "kind", "data"),
    [
        (sx.SPEND_BUDGET_ALERT, "instance.budget_alert", {"threshold": 75, "hard_stop": True}),
        (
            sx.SPEND_BUDGET_REACHED,
            "instance.budget_reached",
            {"instance_ids": ["0d9e8f7a-6b5c-4d3e-8f1a-2b3c4d5e6f70"]},
        ),
        (sx.SPEND_BUDGET_LIFTED, "instance.budget_lifted", {"monthly_limit_usd": 40.0}),
    ],
)
def test_each_budget_event_reaches_endpoints_subscribed_to_budget_events(
    event: BudgetEvent, kind: str, data: dict[str, object]
) -> None:
    found = outgoing(event)
    assert found is not None
    assert (found.type, found.user_id, found.event_id) == (kind, event.user_id, event.id)
    assert data.items() <= found.data.items()
    assert found.data["period_start"].endswith("Z")
    assert subscribed(valid([BUDGET_EVENTS]), kind)
    assert subscribed(valid([kind]), kind)
    assert not subscribed(valid(["instance.running"]), kind)
