"""Billing's errors, as callers see them."""

from __future__ import annotations

from typing import ClassVar

from claudecloud_common.errors import (
    AppError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    UnavailableError,
)


class BillingDisabled(NotFoundError):
    """Billing is off on this deployment: instances are free and there is nothing to pay."""


class UnknownPlan(BadRequestError):
    pass


class NoSubscription(NotFoundError):
    """The user has never subscribed: nothing to manage in the billing portal yet."""


class StripeUnavailable(UnavailableError):
    """Stripe did not answer (or answered with an error of its own); try again shortly."""


class StripeRefused(AppError):
    """Stripe refused the request (a configuration problem: unknown price, bad key)."""

    status_code: ClassVar[int] = 502


class AlreadySubscribed(ConflictError):
    """The user has a subscription in good standing: plans change in the billing portal."""


class UnusableEvent(BadRequestError):
    """A signed Stripe event billing cannot act on, however often it tries: its object lacks what
    its type needs, or it names another user than the one its customer belongs to. Parked at
    once for a person (``claude-cloud-admin check`` counts it)."""
