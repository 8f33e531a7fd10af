"""``/billing``: the plans on offer, the signed-in user's status, Stripe Checkout and the billing
portal.

With billing off, ``GET /billing/status`` answers ``{"enabled": false, "entitled": true, ...}``
(instances are free), ``GET /billing/plans`` an empty list, and checkout and portal do not exist
(404).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, ConfigDict, Field

from claudecloud_common.contracts.billing import (
    BillingStatus,
    CheckoutSession,
    PlanList,
    PortalSession,
)
from claudecloud_common.errors import UnavailableError

from ..deps import CALLER_ERRORS, Caller, CallerDep, StateDep
from ..errors import error_responses
from ..settings import GatewaySettings
from .errors import (
    AlreadySubscribed,
    NoSubscription,
    SignedInUsersOnly,
    StripeUnavailable,
    UnknownPlan,
)
from .service import BillingGateway


def get_billing(state: StateDep) -> BillingGateway:
    settings = state.settings
    return BillingGateway(
        state.broker,
        enabled=settings.billing_enabled,
        base_url=settings.base_url,
        rpc_timeout=settings.rpc_timeout_seconds,
    )


BillingDep = Annotated[BillingGateway, Depends(get_billing)]


class CheckoutBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9_-]+$")


def _user(caller: Caller) -> tuple[UUID, str | None]:
    if caller.user_id is None:
        raise SignedInUsersOnly("billing belongs to a signed-in user; sign in as them")
    return caller.user_id, caller.email


def make_router(settings: GatewaySettings) -> APIRouter:
    """The billing routes; checkout and portal only when billing is on."""
    router = APIRouter(prefix="/billing", tags=["billing"])
    router.add_api_route(
        "/plans",
        plans,
        methods=["GET"],
        response_model=PlanList,
        responses=error_responses(UnavailableError),
    )
    router.add_api_route(
        "/status",
        status,
        methods=["GET"],
        response_model=BillingStatus,
        responses=error_responses(*CALLER_ERRORS, SignedInUsersOnly, UnavailableError),
    )
    if settings.billing_enabled:
        router.add_api_route(
            "/checkout",
            checkout,
            methods=["POST"],
            response_model=CheckoutSession,
            responses=error_responses(
                *CALLER_ERRORS,
                SignedInUsersOnly,
                UnknownPlan,
                AlreadySubscribed,
                StripeUnavailable,
                UnavailableError,
            ),
        )
        router.add_api_route(
            "/portal",
            portal,
            methods=["POST"],
            response_model=PortalSession,
            responses=error_responses(
                *CALLER_ERRORS, SignedInUsersOnly, NoSubscription, StripeUnavailable
            ),
        )
    return router


async def plans(billing: BillingDep) -> PlanList:
    """The plans on offer (none with billing off): price, included hours, the machine."""
    return await billing.plans()


async def status(caller: CallerDep, billing: BillingDep) -> BillingStatus:
    """The signed-in user's plan, status, period and hours used. ``enabled`` false: billing is
    off on this deployment and instances are free."""
    user_id, _ = _user(caller)
    return await billing.status(user_id)


async def checkout(
    body: CheckoutBody,
    caller: CallerDep,
    billing: BillingDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> CheckoutSession:
    """A Stripe Checkout page for ``plan``: send the browser to ``url``. After paying, the
    workstation is created without any further call. The same ``Idempotency-Key`` returns the
    same page."""
    user_id, email = _user(caller)
    return await billing.checkout(user_id, email, body.plan, idempotency_key)


async def portal(
    caller: CallerDep,
    billing: BillingDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> PortalSession:
    """A Stripe billing portal page (cancel, change the card, invoices): send the browser to
    ``url``."""
    user_id, _ = _user(caller)
    return await billing.portal(user_id, idempotency_key)
