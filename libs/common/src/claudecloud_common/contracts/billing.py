"""Billing: owned by the billing service (Stripe customers, subscriptions, the usage ledger)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .base import Event, Query

__all__ = [
    "ENTITLED_STATUSES",
    "AnySubscriptionEvent",
    "BillingStatus",
    "BillingSubject",
    "CheckoutSession",
    "GetBillingStatus",
    "ListPlans",
    "MachineSize",
    "OpenPortal",
    "PlanList",
    "PlanView",
    "PortalSession",
    "StartCheckout",
    "SubscriptionActivated",
    "SubscriptionCanceled",
    "SubscriptionEvent",
    "SubscriptionPastDue",
    "SubscriptionStatus",
    "SubscriptionUpdated",
    "parse_subscription_event",
]


class BillingSubject(StrEnum):
    ACTIVATED = "evt.billing.subscription.activated"
    UPDATED = "evt.billing.subscription.updated"
    CANCELED = "evt.billing.subscription.canceled"
    PAST_DUE = "evt.billing.subscription.past_due"
    ALL_SUBSCRIPTION_EVENTS = "evt.billing.subscription.>"

    CHECKOUT = "rpc.billing.checkout"
    PORTAL = "rpc.billing.portal"
    STATUS = "rpc.billing.status"
    PLANS = "rpc.billing.plans"


class SubscriptionStatus(StrEnum):
    """Stripe's subscription statuses, as Stripe spells them."""

    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    PAUSED = "paused"


ENTITLED_STATUSES: frozenset[SubscriptionStatus] = frozenset(
    {SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING}
)
"""Statuses that allow creating and waking an instance (``past_due`` does too, within its grace
period: :attr:`SubscriptionEvent.entitled` says which applies)."""


class MachineSize(BaseModel):
    """The machine a plan gives."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpus: float = Field(gt=0)
    memory_mb: int = Field(gt=0)
    disk_gb: int = Field(gt=0)


class PlanView(BaseModel):
    """A plan as the landing page and the dashboard show it."""

    model_config = ConfigDict(frozen=True)

    name: str
    title: str
    price: str
    """For people (``"$20 / month"``); Stripe's price decides what is charged."""
    included_hours: float
    machine: MachineSize
    frozen_hour_weight: float = 0.0
    """How an hour frozen (memory kept, nothing running) counts against the included hours, as
    a share of a running hour: 0 is free."""
    overage_usd_per_hour: float = 0.0
    """What an hour beyond the included ones costs."""


# Events


class SubscriptionEvent(Event):
    """A user's subscription changed. ``entitled`` is billing's verdict: whether the user may
    create and wake an instance now (the provisioner keeps it and admits by it)."""

    type: str
    user_id: UUID
    subscription_id: str
    plan: str
    status: SubscriptionStatus
    entitled: bool
    machine: MachineSize
    current_period_end: datetime | None = None
    grace_until: datetime | None = None
    """While ``past_due``: when the grace period ends and the instance is paused."""


class SubscriptionActivated(SubscriptionEvent):
    """Paid: the provisioner creates the user's instance if they have none."""

    type: Literal["billing.subscription.activated"] = "billing.subscription.activated"
    subject: ClassVar[BillingSubject] = BillingSubject.ACTIVATED


class SubscriptionUpdated(SubscriptionEvent):
    """Plan or status changed (a new plan's machine applies at the next wake)."""

    type: Literal["billing.subscription.updated"] = "billing.subscription.updated"
    subject: ClassVar[BillingSubject] = BillingSubject.UPDATED


class SubscriptionCanceled(SubscriptionEvent):
    """Ended: the provisioner pauses the user's instance (reason ``billing``)."""

    type: Literal["billing.subscription.canceled"] = "billing.subscription.canceled"
    subject: ClassVar[BillingSubject] = BillingSubject.CANCELED


class SubscriptionPastDue(SubscriptionEvent):
    """A payment failed. Still entitled until ``grace_until``; announced again, not entitled,
    when the grace period ends unpaid."""

    type: Literal["billing.subscription.past_due"] = "billing.subscription.past_due"
    subject: ClassVar[BillingSubject] = BillingSubject.PAST_DUE


AnySubscriptionEvent = Annotated[
    SubscriptionActivated | SubscriptionUpdated | SubscriptionCanceled | SubscriptionPastDue,
    Field(discriminator="type"),
]
_EVENT_ADAPTER: TypeAdapter[AnySubscriptionEvent] = TypeAdapter(AnySubscriptionEvent)


def parse_subscription_event(data: bytes | str) -> SubscriptionEvent:
    """Any ``evt.billing.subscription.*`` payload, as its own event class."""
    return _EVENT_ADAPTER.validate_json(data)


# Queries (request-reply): each after its answer, which it names as ``Query[Answer]``


class CheckoutSession(BaseModel):
    model_config = ConfigDict(frozen=True)

    session_id: str
    url: str


class StartCheckout(Query[CheckoutSession]):
    """Open a Stripe Checkout Session for ``plan``; ``request_id`` makes a retry return the same
    session (it is the Stripe idempotency key's seed)."""

    subject: ClassVar[BillingSubject] = BillingSubject.CHECKOUT
    user_id: UUID
    email: str | None = None
    plan: str
    success_url: str
    cancel_url: str
    request_id: UUID


class PortalSession(BaseModel):
    model_config = ConfigDict(frozen=True)

    url: str


class OpenPortal(Query[PortalSession]):
    """Open Stripe's billing portal for the user's customer."""

    subject: ClassVar[BillingSubject] = BillingSubject.PORTAL
    user_id: UUID
    return_url: str
    request_id: UUID


class BillingStatus(BaseModel):
    """What the dashboard shows. With billing off: ``enabled`` false, ``entitled`` true (instances
    are free) and everything else empty."""

    model_config = ConfigDict(frozen=True)

    enabled: bool
    entitled: bool
    plan: str | None = None
    status: SubscriptionStatus | None = None
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    grace_until: datetime | None = None
    hours_used: float = 0.0
    """Hours counted against the plan this period: running hours, and frozen hours weighted by
    ``frozen_hour_weight``."""
    hours_included: float | None = None
    running_hours: float = 0.0
    """Hours of active use this period (typing, Claude at work)."""
    frozen_hours: float = 0.0
    """Hours frozen this period (memory kept, nothing running)."""
    frozen_hour_weight: float | None = None
    """What a frozen hour counts as on this plan (0: free); None without a known plan."""
    budget_reached: bool = False
    """The user's hard-stop budget is spent this period: create, wake and chat answer 402
    ``budget_reached`` until it is raised or removed."""


class GetBillingStatus(Query[BillingStatus]):
    """The user's plan, subscription and usage this period."""

    subject: ClassVar[BillingSubject] = BillingSubject.STATUS
    user_id: UUID


class PlanList(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[PlanView]


class ListPlans(Query[PlanList]):
    """The plans on offer."""

    subject: ClassVar[BillingSubject] = BillingSubject.PLANS
