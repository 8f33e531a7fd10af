"""``/billing``: the plans on offer, the signed-in user's status, Stripe Checkout and the billing
portal.

With billing off, ``GET /billing/status`` answers ``{"enabled": false, "entitled": true, ...}``
(instances are free), ``GET /billing/plans`` an empty list, and checkout and portal do not exist
(404).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from claudecloud_common.contracts.audit import AuditKind
from claudecloud_common.contracts.billing import (
    BillingStatus,
    CheckoutSession,
    PlanList,
    PortalSession,
)
from claudecloud_common.contracts.spend import (
    MAX_BUDGET_USD,
    MAX_SERIES_DAYS,
    BudgetView,
    UsageSeries,
)
from claudecloud_common.errors import UnavailableError

from ..audit.who import WhoDep
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
    return state.billing


BillingDep = Annotated[BillingGateway, Depends(get_billing)]


class CheckoutBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9_-]+$")


class BudgetBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    monthly_limit_usd: float = Field(
        ge=0,
        le=MAX_BUDGET_USD,
        allow_inf_nan=False,
        description="What overage and platform-provided Claude tokens may cost a month (USD); "
        "0: none at all.",
    )
    hard_stop: bool = Field(
        default=False,
        description="At 100 %: pause the workstation and refuse create, wake and chat until the "
        "budget is raised or removed. False: mails only.",
    )


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
        "/usage",
        usage,
        methods=["GET"],
        response_model=UsageSeries,
        responses=error_responses(*CALLER_ERRORS, SignedInUsersOnly, UnavailableError),
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


async def usage(
    caller: CallerDep,
    billing: BillingDep,
    from_: Annotated[date | None, Query(alias="from", description="First UTC day")] = None,
    to: Annotated[date | None, Query(description="Last UTC day (inclusive)")] = None,
) -> UsageSeries:
    """Hours per UTC day (running, frozen, and what counts against the plan) and Claude's spend
    beside them, from ``from`` to ``to`` (this period when left out; at most 400 days), with the
    included hours, where the period ends at today's pace, and the overage in money."""
    user_id, _ = _user(caller)
    _check_range(from_, to)
    return await billing.usage(user_id, from_, to)


def _check_range(first: date | None, last: date | None) -> None:
    problem = None
    if first and last and first > last:
        problem = ("from", "must not be after to")
    elif first and last and (last - first).days >= MAX_SERIES_DAYS:
        problem = ("to", f"a series covers at most {MAX_SERIES_DAYS} days")
    if problem is not None:
        field, msg = problem
        raise RequestValidationError(
            [{"loc": ("query", field), "msg": msg, "type": "value_error", "input": None}]
        )


budget_router = APIRouter(prefix="/me/budget", tags=["billing"])
_BUDGET_ERRORS = error_responses(*CALLER_ERRORS, SignedInUsersOnly, UnavailableError)


@budget_router.get(
    "",
    response_model=BudgetView,
    responses=error_responses(*CALLER_ERRORS, SignedInUsersOnly, validated=False),
)
async def show_budget(caller: CallerDep, billing: BillingDep) -> BudgetView:
    """The signed-in user's monthly budget (``monthly_limit_usd`` null: none), what it covers so
    far this period (overage and platform-provided Claude tokens), the alerts sent, and whether
    its hard stop is in effect."""
    user_id, _ = _user(caller)
    return await billing.budget(user_id)


@budget_router.put("", response_model=BudgetView, responses=_BUDGET_ERRORS)
async def set_budget(
    body: BudgetBody, caller: CallerDep, billing: BillingDep, who: WhoDep
) -> BudgetView:
    """Set or change the monthly budget. Mails at 75, 90 and 100 %, once each a period; with
    ``hard_stop``, at 100 % the workstation is paused and create, wake and chat answer 402
    ``budget_reached``. Raising it above what is spent wakes what the budget paused."""
    user_id, _ = _user(caller)
    view = await billing.set_budget(user_id, body.monthly_limit_usd, body.hard_stop)
    who.record(
        AuditKind.BUDGET_CHANGED,
        user_id,
        monthly_limit_usd=body.monthly_limit_usd,
        hard_stop=body.hard_stop,
    )
    return view


@budget_router.delete(
    "",
    status_code=204,
    responses=error_responses(*CALLER_ERRORS, SignedInUsersOnly, validated=False),
)
async def clear_budget(caller: CallerDep, billing: BillingDep, who: WhoDep) -> Response:
    """Remove the budget: no more alerts, and what its hard stop paused is woken."""
    user_id, _ = _user(caller)
    await billing.clear_budget(user_id)
    who.record(AuditKind.BUDGET_CHANGED, user_id, monthly_limit_usd=None, removed=True)
    return Response(status_code=204)
