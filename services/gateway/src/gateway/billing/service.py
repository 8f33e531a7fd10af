"""The billing API in terms of the bus: billing's ``rpc.billing.*`` queries.

With billing off (``BILLING_ENABLED`` false) nothing is asked: the status says so and the
checkout and portal routes do not exist.
"""

from __future__ import annotations

from datetime import date
from typing import TypeVar
from uuid import UUID, uuid4, uuid5

from faststream.nats import NatsBroker
from pydantic import BaseModel

from claudecloud_common.contracts.base import Query
from claudecloud_common.contracts.billing import (
    BillingStatus,
    CheckoutSession,
    GetBillingStatus,
    ListPlans,
    OpenPortal,
    PlanList,
    PortalSession,
    StartCheckout,
)
from claudecloud_common.contracts.spend import (
    BudgetView,
    ClearBudget,
    GetBudget,
    GetUsage,
    SetBudget,
    UsageSeries,
)
from claudecloud_common.errors import UnavailableError
from claudecloud_common.logging import get_logger
from claudecloud_common.rpc import request

from .errors import BudgetReached

R = TypeVar("R", bound=BaseModel)
log = get_logger(__name__)

IDEMPOTENCY_NAMESPACE = UUID("0b3f1f7e-3d8e-4c55-9b0e-8f1a2c4d6e70")

DISABLED = BillingStatus(enabled=False, entitled=True)
"""The status with billing off: instances are free."""
DASHBOARD = "/dashboard/"
"""Where a person lands back from Stripe's checkout and portal."""


class BillingGateway:
    def __init__(
        self, broker: NatsBroker, *, enabled: bool, base_url: str, rpc_timeout: float
    ) -> None:
        self.broker = broker
        self.enabled = enabled
        self.base_url = base_url.rstrip("/")
        self.rpc_timeout = rpc_timeout

    async def plans(self) -> PlanList:
        if not self.enabled:
            return PlanList(items=[])
        return await self._ask(ListPlans())

    async def status(self, user_id: UUID) -> BillingStatus:
        if not self.enabled:
            return DISABLED
        query = GetBillingStatus(user_id=user_id)
        return await self._ask(query)

    async def checkout(
        self, user_id: UUID, email: str | None, plan: str, idempotency_key: str | None
    ) -> CheckoutSession:
        query = StartCheckout(
            user_id=user_id,
            email=email,
            plan=plan,
            # Back on the dashboard (which looks the plan up again), not the landing page.
            success_url=f"{self.base_url}{DASHBOARD}?checkout=complete",
            cancel_url=f"{self.base_url}{DASHBOARD}?checkout=canceled",
            request_id=_request_id(user_id, "checkout", idempotency_key),
        )
        return await self._ask(query, slow=True)

    async def portal(self, user_id: UUID, idempotency_key: str | None) -> PortalSession:
        query = OpenPortal(
            user_id=user_id,
            return_url=f"{self.base_url}{DASHBOARD}",
            request_id=_request_id(user_id, "portal", idempotency_key),
        )
        return await self._ask(query, slow=True)

    async def usage(self, user_id: UUID, first: date | None, last: date | None) -> UsageSeries:
        return await self._ask(GetUsage(user_id=user_id, from_day=first, to_day=last))

    async def budget(self, user_id: UUID) -> BudgetView:
        return await self._ask(GetBudget(user_id=user_id))

    async def set_budget(self, user_id: UUID, limit: float, hard_stop: bool) -> BudgetView:
        query = SetBudget(
            user_id=user_id, monthly_limit_usd=limit, hard_stop=hard_stop, request_id=uuid4()
        )
        return await self._ask(query)

    async def clear_budget(self, user_id: UUID) -> BudgetView:
        return await self._ask(ClearBudget(user_id=user_id, request_id=uuid4()))

    async def refuse_if_budget_reached(self, user_id: UUID) -> None:
        """:class:`BudgetReached` while the user's hard-stop budget is spent (billing off: never,
        and nothing is asked). Billing not answering lets it through: the workstation does not
        depend on billing being up, and the budget stops it once billing counts again."""
        if not self.enabled:
            return
        try:
            status = await self.status(user_id)
        except UnavailableError as exc:
            log.warning("billing.budget_unchecked", user_id=str(user_id), error=str(exc))
            return
        if status.budget_reached:
            raise BudgetReached

    async def _ask(self, query: Query[R], *, slow: bool = False) -> R:
        # Checkout and portal wait on Stripe (a customer, then a session): give them longer.
        timeout = self.rpc_timeout * (10 if slow else 1)
        return await request(self.broker, query, timeout=timeout)


def _request_id(user_id: UUID, action: str, idempotency_key: str | None) -> UUID:
    """The same ``Idempotency-Key`` from the same user asks Stripe for the same session."""
    if idempotency_key is None:
        return uuid4()
    return uuid5(IDEMPOTENCY_NAMESPACE, f"{user_id}:{action}:{idempotency_key}")
