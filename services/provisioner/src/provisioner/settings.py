"""Provisioner settings (``PROVISIONER_*``, then the plain names)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import ClassVar, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from claudecloud_common.settings import ServiceSettings

PROVIDERS = ("docker", "fake", "hetzner")
"""The providers this build has; the factory makes each."""


class ProvisionerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROVISIONER_", extra="ignore", frozen=True)
    service_name: ClassVar[str] = "provisioner"

    http_port: int = 8101

    provider: str | None = None
    """``docker``, ``hetzner`` (with the netbird service), or ``fake`` (tests and the labelled
    demo). Required in production."""

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
    hcloud_token: SecretStr | None = None
    """``HCLOUD_TOKEN``: the Hetzner Cloud API token (``PROVIDER=hetzner``)."""
    netbird_api_token: SecretStr | None = None
    """``NETBIRD_API_TOKEN``: read only to refuse ``PROVIDER=hetzner`` without the mesh (the
    netbird service uses it)."""
    terraform_binary: str = "terraform"
    terraform_dir: Path = Path("terraform")
    """Holds ``modules/user_instance``; the per-user workspaces go under ``workspaces/``."""
    terraform_workspaces: Path | None = None
    hetzner_server_type: str = "cx22"
    hetzner_location: str = "fsn1"
    hetzner_image: str = "ubuntu-24.04"
    instance_setup_script: Path = Path("docker/instance/setup.sh")
    """The instance's setup script; cloud-init runs the same one the image does."""
    reconcile_on_start: bool = True
    """At start-up, compare rows with the provider's machines and correct both (none is lost)."""
    check_interval_seconds: float = Field(default=600.0, ge=0)
    """Every this often, run the reconciliation check with its safe fixes and log what it
    found (the same check ``claude-cloud-admin check`` asks for); 0 turns the timer off."""

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str | None) -> str | None:
        if value is None or value in PROVIDERS:
            return value
        raise ValueError(f"unknown PROVIDER {value!r}: choose one of {', '.join(PROVIDERS)}")

    @model_validator(mode="after")
    def _hetzner_needs_its_vendors(self) -> Self:
        if self.provider == "hetzner":
            missing = hetzner_missing(self)
            if missing:
                raise ValueError(f"PROVIDER=hetzner needs {'; '.join(missing)}")
        return self

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.provider in (None, "fake"):
            problems.append("PROVIDER must be docker or hetzner in production (not the fake)")
        return problems


def hetzner_missing(settings: ProvisionerSettings) -> list[str]:
    """What ``PROVIDER=hetzner`` lacks: the Hetzner token, the mesh, Terraform and its module."""
    missing = []
    if not settings.hcloud_token or not settings.hcloud_token.get_secret_value():
        missing.append("HCLOUD_TOKEN (a Hetzner Cloud API token)")
    if not settings.netbird_api_token or not settings.netbird_api_token.get_secret_value():
        missing.append("NETBIRD_API_TOKEN (the netbird service's Management API token)")
    if shutil.which(settings.terraform_binary) is None:
        missing.append(f"a terraform executable (TERRAFORM_BINARY={settings.terraform_binary})")
    if not (settings.terraform_dir / "modules" / "user_instance").is_dir():
        missing.append(f"the Terraform module (TERRAFORM_DIR={settings.terraform_dir})")
    return missing
