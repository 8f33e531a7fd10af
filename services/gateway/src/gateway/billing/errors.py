"""What the billing routes may answer with (billing's own refusals keep their names)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from claudecloud_common.contracts.spend import BUDGET_REACHED
from claudecloud_common.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PaymentRequiredError,
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


class BudgetReached(PaymentRequiredError):
    """The user's hard-stop budget is spent this period: creating, waking and chatting are
    refused until it is raised or removed (``PUT``/``DELETE /me/budget``, or the Usage page).
    ``code`` is ``budget_reached``."""

    body_fields: ClassVar[dict[str, Any]] = {"code": (Literal["budget_reached"], BUDGET_REACHED)}

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(
            detail
            or "your monthly budget is reached and its hard stop is on: raise or remove your "
            "budget (PUT /me/budget or the Usage page) to go on",
            code=BUDGET_REACHED,
        )
