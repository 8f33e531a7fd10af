"""The billing API in terms of the bus: billing's ``rpc.billing.*`` queries.

With billing off (``BILLING_ENABLED`` false) nothing is asked: the status says so and the
checkout and portal routes do not exist.
"""

from __future__ import annotations

from typing import TypeVar
from uuid import UUID, uuid4, uuid5

from faststream.nats import NatsBroker
from pydantic import BaseModel

from claudecloud_common.bus import request
from claudecloud_common.contracts.billing import (
    BillingStatus,
    BillingSubject,
    CheckoutSession,
    GetBillingStatus,
    ListPlans,
    OpenPortal,
    PlanList,
    PortalSession,
    StartCheckout,
)
from claudecloud_common.errors import UnavailableError

T = TypeVar("T", bound=BaseModel)

IDEMPOTENCY_NAMESPACE = UUID("0b3f1f7e-3d8e-4c55-9b0e-8f1a2c4d6e70")

DISABLED = BillingStatus(enabled=False, entitled=True)
"""The status with billing off: instances are free."""


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
        return await self._ask(BillingSubject.PLANS, ListPlans(), PlanList)

    async def status(self, user_id: UUID) -> BillingStatus:
        if not self.enabled:
            return DISABLED
        query = GetBillingStatus(user_id=user_id)
        return await self._ask(BillingSubject.STATUS, query, BillingStatus)

    async def checkout(
        self, user_id: UUID, email: str | None, plan: str, idempotency_key: str | None
    ) -> CheckoutSession:
        query = StartCheckout(
            user_id=user_id,
            email=email,
            plan=plan,
            success_url=f"{self.base_url}/?checkout=complete",
            cancel_url=f"{self.base_url}/?checkout=canceled",
            request_id=_request_id(user_id, "checkout", idempotency_key),
        )
        return await self._ask(BillingSubject.CHECKOUT, query, CheckoutSession, slow=True)

    async def portal(self, user_id: UUID, idempotency_key: str | None) -> PortalSession:
        query = OpenPortal(
            user_id=user_id,
            return_url=f"{self.base_url}/",
            request_id=_request_id(user_id, "portal", idempotency_key),
        )
        return await self._ask(BillingSubject.PORTAL, query, PortalSession, slow=True)

    async def _ask(
        self, subject: BillingSubject, query: BaseModel, result: type[T], *, slow: bool = False
    ) -> T:
        # Checkout and portal wait on Stripe (a customer, then a session): give them longer.
        timeout = self.rpc_timeout * (10 if slow else 1)
        found = await request(self.broker, subject, query, result, timeout=timeout)
        if found is None:
            raise UnavailableError("billing answered nothing; try again shortly")
        return found


def _request_id(user_id: UUID, action: str, idempotency_key: str | None) -> UUID:
    """The same ``Idempotency-Key`` from the same user asks Stripe for the same session."""
    if idempotency_key is None:
        return uuid4()
    return uuid5(IDEMPOTENCY_NAMESPACE, f"{user_id}:{action}:{idempotency_key}")
