"""What the billing routes may answer with (billing's own refusals keep their names)."""

from __future__ import annotations

from claudecloud_common.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnavailableError,
)


class UnknownPlan(BadRequestError):
    """No plan of that name; ``GET /billing/plans`` lists them."""


class AlreadySubscribed(ConflictError):
    """The user's subscription is in good standing: plans change in the billing portal."""


class NoSubscription(NotFoundError):
    """The user has never subscribed: there is nothing to manage in the portal yet."""


class StripeUnavailable(UnavailableError):
    """Stripe did not answer or refused; try again shortly."""


class SignedInUsersOnly(ForbiddenError):
    """Billing belongs to a signed-in user; the operator key names nobody."""
