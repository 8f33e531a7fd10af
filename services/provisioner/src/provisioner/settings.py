"""Provisioner settings (``PROVISIONER_*``, then the plain names)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from claudecloud_common.settings import ServiceSettings

PROVIDERS = ("docker", "fake")
"""The providers this build has; the factory makes each."""


class ProvisionerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROVISIONER_", extra="ignore", frozen=True)
    service_name: ClassVar[str] = "provisioner"

    http_port: int = 8101

    provider: str | None = None
    """``docker`` or ``fake`` (tests and the labelled demo). Required in production."""

    stuck_after_seconds: float = Field(default=1800.0, gt=0)
    """An instance left in a transitional state this long is marked failed and announced."""

    fake_latency_seconds: float = Field(default=0.0, ge=0)
    fake_fail_operations: frozenset[str] = frozenset()
    """Operations of the fake provider that fail permanently (create, pause, wake, destroy)."""
    fake_transient_failures: int = Field(default=0, ge=0)
    """How many times each fake operation fails with a retryable error before it succeeds."""

    docker_url: str | None = None
    """The Docker engine (``unix:///var/run/docker.sock``, ``tcp://...``); unset: ``DOCKER_HOST``
    or the local socket."""
    docker_image: str = "claudecloud/instance:latest"
    docker_network: str = "claude-net"
    """Bridge network for instances, created with inter-container traffic off when missing."""
    docker_deployment: str = "claudecloud"
    """Labels what this deployment made; reconciliation only ever touches its own containers."""
    docker_memory: str = "2g"
    docker_cpus: float = Field(default=1.0, gt=0)
    docker_pids: int = Field(default=512, ge=16)
    docker_cap_add: tuple[str, ...] = ()
    """Capabilities given back after dropping all (none needed: everything runs as the user)."""
    docker_user: str = "claude"
    docker_agent_port: int = 3001
    docker_publish_host: str = "127.0.0.1"
    """Publish each agent on this host address with a free port (``host`` = ``ADDR:PORT``);
    empty: publish nothing and use the container's address (``host`` = ``IP:3001``)."""
    docker_ready_timeout_seconds: float = Field(default=60.0, gt=0)
    """How long create and wake wait for the agent to answer before giving up."""
    docker_stop_timeout_seconds: int = Field(default=10, ge=0)
    docker_api_timeout_seconds: float = Field(default=60.0, gt=0)
    billing_enabled: bool = False
    """``BILLING_ENABLED``: only users whose subscription billing calls entitled may create or
    wake an instance, and their plan sizes it; off, instances are free and sized by the settings."""
    reconcile_on_start: bool = True
    """At start-up, compare rows with the provider's machines and correct both (none is lost)."""

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str | None) -> str | None:
        if value is None or value in PROVIDERS:
            return value
        if value == "hetzner":
            raise ValueError(
                "PROVIDER=hetzner is not available yet (its Terraform provider and the netbird "
                "service are still being built); choose docker, or fake for the labelled demo"
            )
        raise ValueError(f"unknown PROVIDER {value!r}: choose one of {', '.join(PROVIDERS)}")

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.provider in (None, "fake"):
            problems.append("PROVIDER must be docker in production (not the fake)")
        return problems
