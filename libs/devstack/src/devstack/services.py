"""The one list of the platform's services: ``make run``, the tests and the benchmarks read it.

Adding a service is one entry in :data:`SERVICES`. Each is a Python package run as
``python -m <module>`` that reads its settings as ``<PREFIX>_<NAME>`` (then the plain name) and
answers ``GET <health_path>`` on ``<PREFIX>_HTTP_PORT`` once it is ready.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["SERVICES", "Service", "service"]


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

    @property
    def port_variable(self) -> str:
        """The setting that gives its HTTP port (the launcher sets it, or honours yours)."""
        return f"{self.env_prefix}HTTP_PORT"

    def runs(self, environ: Mapping[str, str]) -> bool:
        """Whether ``make run`` starts it in ``environ`` (see :attr:`when`)."""
        return self.when is None or self.when(environ)

    def owns(self, variable: str) -> bool:
        """Whether an environment variable is one of this service's prefixed settings."""
        return variable.startswith(self.env_prefix)


SERVICES: tuple[Service, ...] = (
    # Started in this order: the provisioner answers the gateway's first queries.
    Service("provisioner", "provisioner", "PROVISIONER_"),
    # Stripe's side: checkout, the portal, webhooks; answers the gateway's /billing queries.
    Service("billing", "billing", "BILLING_"),
    Service("gateway", "gateway", "GATEWAY_", public=True),
    # Follows what runs; pauses idle instances and samples usage (after the provisioner it asks).
    Service("activity", "activity", "ACTIVITY_"),
    # The mesh side of Hetzner instances (groups, setup keys, routes, policies in Netbird).
    Service("netbird", "netbird", "NETBIRD_", when=lambda env: _provider(env) == "hetzner"),
)


def _provider(env: Mapping[str, str]) -> str | None:
    return env.get("PROVISIONER_PROVIDER") or env.get("PROVIDER")


def service(name: str) -> Service:
    """The registered service called ``name``."""
    for found in SERVICES:
        if found.name == name:
            return found
    raise KeyError(f"no service {name!r} in devstack.services.SERVICES")
