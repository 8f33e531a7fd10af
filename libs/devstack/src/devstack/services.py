"""The one list of the platform's services: ``make run``, the tests and the benchmarks read it.

Adding a service is one entry in :data:`SERVICES`. Each is a Python package run as
``python -m <module>`` that reads its settings as ``<PREFIX>_<NAME>`` (then the plain name) and
answers ``GET <health_path>`` on ``<PREFIX>_HTTP_PORT`` once it is ready.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from claudecloud_common.contracts.providers import needs_mesh

__all__ = ["SERVICES", "Listener", "Service", "service"]


@dataclass(frozen=True)
class Listener:
    """A port a service opens beside its HTTP port for callers outside the platform, serving
    only what they need (billing: Stripe's webhook); the HTTP port stays internal."""

    setting: str
    """Its port setting after the service's prefix (``WEBHOOK_PORT``: ``BILLING_WEBHOOK_PORT``);
    the launcher sets it to a free port unless the environment gives one."""
    path: str
    """What it serves, for the banner's address."""
    title: str
    """What the banner calls it."""
    when: Callable[[Mapping[str, str]], bool] | None = None
    """Shown in the banner only when this says so of the environment (None: always)."""
    export: tuple[str, str] | None = None
    """A plain setting every service gets unless the environment gives it: its name, and the
    listener's URL with ``{port}`` (how others reach it: workstations, the gateway's)."""


@dataclass(frozen=True)
class Service:
    name: str
    """Also the name of its database (``<name>.db``, or ``<server database>_<name>``)."""
    module: str
    """Started as ``python -m <module>``."""
    env_prefix: str
    """Its settings are read as ``<env_prefix><NAME>`` first, then as the plain ``<NAME>``."""
    public: bool = False
    """The platform's front door: its port is ``PORT`` (8000); every other port is free."""
    health_path: str = "/healthz"
    replicas: int = 1
    """Processes ``make run`` starts (the tests and benchmarks may ask for more)."""
    when: Callable[[Mapping[str, str]], bool] | None = None
    """Started only when this says so of the environment (None: always)."""
    listeners: tuple[Listener, ...] = ()
    """Its public ports besides its HTTP port."""

    @property
    def port_variable(self) -> str:
        """The setting that gives its HTTP port (the launcher sets it, or honours yours)."""
        return f"{self.env_prefix}HTTP_PORT"

    def listener_variable(self, listener: Listener) -> str:
        """The setting that gives ``listener``'s port."""
        return f"{self.env_prefix}{listener.setting}"

    def runs(self, environ: Mapping[str, str]) -> bool:
        """Whether ``make run`` starts it in ``environ`` (see :attr:`when`)."""
        return self.when is None or self.when(environ)

    def owns(self, variable: str) -> bool:
        """Whether an environment variable is one of this service's prefixed settings."""
        return variable.startswith(self.env_prefix)


def _billing(env: Mapping[str, str]) -> bool:
    """Billing is on unless ``BILLING_ENABLED`` says off (as ``make run`` reads it)."""
    return env.get("BILLING_ENABLED", "true").strip().lower() not in ("false", "0", "no", "off")


SERVICES: tuple[Service, ...] = (
    # Started in this order: the provisioner answers the gateway's first queries.
    Service("provisioner", "provisioner", "PROVISIONER_"),
    # Stripe's side: checkout, the portal, webhooks; answers the gateway's /billing queries.
    Service(
        "billing",
        "billing",
        "BILLING_",
        listeners=(Listener("WEBHOOK_PORT", "/stripe/webhook", "Stripe webhook", when=_billing),),
    ),
    Service(
        "gateway",
        "gateway",
        "GATEWAY_",
        public=True,
        # Workstations' agents ask it for git credentials there; a container reaches the host
        # as host.docker.internal (the docker provider maps it), the provisioner tells them.
        listeners=(
            Listener(
                "AGENT_PORT",
                "/agent/",
                "Workstation agents",
                export=("WORKSTATION_GATEWAY_URL", "http://host.docker.internal:{port}"),
            ),
        ),
    ),
    # Follows what runs; pauses idle instances and samples usage (after the provisioner it asks).
    Service("activity", "activity", "ACTIVITY_"),
    # Who did what: every service's audit events, on a hash chain per user.
    Service("audit", "audit", "AUDIT_"),
    # Users' own endpoints told of their workstation's life (signed, retried, SSRF-safe).
    Service("webhooks", "webhooks", "WEBHOOKS_"),
    # The mesh side of Hetzner instances (groups, setup keys, routes, policies in Netbird).
    Service("netbird", "netbird", "NETBIRD_", when=lambda env: needs_mesh(_provider(env))),
)


def _provider(env: Mapping[str, str]) -> str | None:
    return env.get("PROVISIONER_PROVIDER") or env.get("PROVIDER")


def service(name: str) -> Service:
    """The registered service called ``name``."""
    for found in SERVICES:
        if found.name == name:
            return found
    raise KeyError(f"no service {name!r} in devstack.services.SERVICES")
