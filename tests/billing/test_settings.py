"""Billing refuses to start half-configured, saying every problem at once."""

from __future__ import annotations

import pytest

from billing.settings import BillingSettings
from claudecloud_common.settings import ConfigurationError

pytestmark = pytest.mark.unit


def test_billing_on_without_stripe_keys_or_the_stand_in_is_refused() -> None:
    with pytest.raises(ConfigurationError) as refused:
        BillingSettings(billing_enabled=True)
    assert len(refused.value.problems) == 2
    assert "STRIPE_SECRET_KEY" in refused.value.problems[0]
    assert "STRIPE_WEBHOOK_SECRET" in refused.value.problems[1]


def test_the_stand_in_is_enough_in_development_and_refused_in_production() -> None:
    assert BillingSettings(billing_enabled=True, stripe_standin=True).stripe_problems() == []
    with pytest.raises(ConfigurationError) as refused:
        BillingSettings(
            environment="production",
            database_url="postgresql+asyncpg://db/billing",
            billing_enabled=True,
            stripe_standin=True,
        )
    assert refused.value.problems == ["the local Stripe stand-in cannot be used in production"]


def test_billing_off_needs_nothing() -> None:
    assert BillingSettings(billing_enabled=False).stripe_problems() == []
