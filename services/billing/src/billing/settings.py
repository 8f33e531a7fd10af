"""Billing settings (``BILLING_*``, then the plain names: ``STRIPE_SECRET_KEY`` works too)."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from claudecloud_common.contracts.activity import UsageKind
from claudecloud_common.contracts.billing import MachineSize, PlanView
from claudecloud_common.settings import (
    ConfigurationError,
    Environment,
    ServiceSettings,
    is_default_secret,
)

STRIPE_API = "https://api.stripe.com"


class Plan(BaseModel):
    """One plan: what Stripe charges (its price), what the user gets (hours, a machine)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str
    price: str
    """For people; Stripe's price decides what is charged."""
    price_id: str
    """The Stripe price of the subscription (``price_...``)."""
    included_hours: float = Field(ge=0)
    machine: MachineSize
    frozen_hour_weight: float = Field(default=0.0, ge=0, le=1)
    """How an hour frozen (memory kept, nothing running) counts against the included hours and
    at the meter, as a share of a running hour: 0 (the default) is free, 1 a full hour."""
    overage_usd_per_hour: float = Field(default=0.0, ge=0)
    """What an hour beyond the included ones costs (what Stripe's metered price charges; shown
    on the usage page and counted against budgets)."""
    claude_key_provided: bool = False
    """The platform provides Claude's key on this plan: the tokens' cost is metered to Stripe
    (``claude_meter_event_name``) and counts against budgets. False: the user's own key or
    subscription, billed by Anthropic, shown but never charged again."""

    def view(self, name: str) -> PlanView:
        return PlanView(
            name=name,
            title=self.title,
            price=self.price,
            included_hours=self.included_hours,
            machine=self.machine,
            frozen_hour_weight=self.frozen_hour_weight,
            overage_usd_per_hour=self.overage_usd_per_hour,
        )

    def weight(self, kind: UsageKind) -> float:
        """What a second of ``kind`` counts against the plan."""
        return self.frozen_hour_weight if kind is UsageKind.FROZEN else 1.0


DEFAULT_PLANS: dict[str, Plan] = {
    "starter": Plan(
        title="Starter",
        price="$20 / month",
        price_id="price_claudecloud_starter",
        included_hours=40,
        machine=MachineSize(cpus=1, memory_mb=2048, disk_gb=20),
        overage_usd_per_hour=0.50,
    ),
    "pro": Plan(
        title="Pro",
        price="$50 / month",
        price_id="price_claudecloud_pro",
        included_hours=160,
        machine=MachineSize(cpus=2, memory_mb=4096, disk_gb=50),
        overage_usd_per_hour=0.40,
    ),
}


class BillingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_", extra="ignore", frozen=True)
    service_name: ClassVar[str] = "billing"

    http_port: int = 8102
    """Internal: ``/healthz``, ``/metrics`` and the AsyncAPI document, for the platform and its
    operators. Stripe reaches ``webhook_port`` instead."""
    webhook_port: int = 8105
    """Stripe's webhook, on a port of its own that serves it and ``/healthz`` alone: the one
    port of billing to expose (behind a TLS proxy)."""
    webhook_host: str | None = None
    """Where the webhook listens; unset: where ``HTTP_HOST`` says."""

    billing_enabled: bool = False
    """``BILLING_ENABLED``: off, status says so and checkout is refused (instances are free)."""
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    """The endpoint's signing secret (``whsec_...``): every webhook is verified with it."""
    stripe_api_base: str = STRIPE_API
    """Where the Stripe API answers: tests and the local stand-in point it elsewhere."""
    stripe_standin: bool = False
    """Serve a local Stripe stand-in inside this process and use it (``make run`` sets it when
    no ``STRIPE_SECRET_KEY`` is given): nothing is charged, refused in production."""
    stripe_standin_port: int = Field(default=0, ge=0)
    """Where the stand-in answers (its Checkout and portal pages too); 0: a free port."""
    stripe_timeout_seconds: float = Field(default=20.0, gt=0)
    stripe_max_network_retries: int = Field(default=2, ge=0)

    plans: dict[str, Plan] = Field(default_factory=lambda: dict(DEFAULT_PLANS))
    """``BILLING_PLANS`` as JSON: name → title, price, price_id, included_hours, machine, and
    optionally frozen_hour_weight (0: frozen time is free), overage_usd_per_hour and
    claude_key_provided."""
    meter_event_name: str = "claudecloud_overage_seconds"
    """The Stripe Billing Meter usage beyond a plan's included hours is reported to (seconds;
    frozen seconds weighted by the plan's ``frozen_hour_weight``)."""
    claude_meter_event_name: str = "claudecloud_claude_cents"
    """The Stripe Billing Meter Claude's cost goes to on plans that provide the key (US cents)."""

    webhook_path: str = "/stripe/webhook"
    webhook_tolerance_seconds: int = Field(default=300, gt=0)
    """How old a signed webhook may be (Stripe's own default: five minutes)."""
    webhook_max_body_bytes: int = Field(default=256 * 1024, gt=0)
    past_due_grace_seconds: float = Field(default=3 * 86_400, ge=0)
    """After a failed payment, how long the instance keeps working before it is paused."""
    webhook_max_attempts: int = Field(default=12, ge=1)
    """Tries at acting on a stored event before it is parked for a person (counted by
    ``claude-cloud-admin check``); one that cannot be used at all is parked at once."""
    webhook_retry_seconds: float = Field(default=30.0, ge=0)
    """The wait after an event's first failed try, doubled after each next one up to
    ``webhook_retry_max_seconds`` (the defaults give a Stripe outage about five hours)."""
    webhook_retry_max_seconds: float = Field(default=3600.0, ge=0)
    sweep_seconds: float = Field(default=15.0, gt=0)
    """How often stored-but-unhandled webhooks, unreported usage and ended grace periods are
    picked up (what a crash or an outage left behind)."""

    @property
    def webhook_bind_host(self) -> str:
        return self.webhook_host or self.http_host

    def plan(self, name: str) -> Plan | None:
        return self.plans.get(name)

    def plan_for_price(self, price_id: str | None) -> str | None:
        for name, plan in self.plans.items():
            if plan.price_id == price_id:
                return name
        return None

    @model_validator(mode="after")
    def _refuse_half_configured(self) -> Self:
        # Production lists this with every other problem; elsewhere it is the only hard rule.
        if self.environment is not Environment.PRODUCTION:
            problems = self.stripe_problems()
            if problems:
                raise ConfigurationError(self.service_name, problems)
        return self

    def stripe_problems(self) -> list[str]:
        """Billing on needs Stripe's keys, or the local stand-in."""
        problems = []
        if self.webhook_port == self.http_port:
            problems.append(
                "BILLING_WEBHOOK_PORT must differ from BILLING_HTTP_PORT: the webhook's port is "
                "public, the other internal"
            )
        if not self.billing_enabled or self.stripe_standin:
            return problems
        if is_default_secret(self.stripe_secret_key):
            problems.append(
                "STRIPE_SECRET_KEY is required when BILLING_ENABLED is true (or "
                "BILLING_STRIPE_STANDIN=true for the local stand-in; BILLING_ENABLED=false: free)"
            )
        if is_default_secret(self.stripe_webhook_secret):
            problems.append("STRIPE_WEBHOOK_SECRET is required when BILLING_ENABLED is true")
        return problems

    def production_problems(self) -> list[str]:
        problems = super().production_problems() + self.stripe_problems()
        if self.billing_enabled and self.stripe_standin:
            problems.append("the local Stripe stand-in cannot be used in production")
        return problems
