"""Provisioner settings (``PROVISIONER_*``, then the plain names)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from claudecloud_common.settings import ServiceSettings


class ProvisionerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROVISIONER_", extra="ignore", frozen=True)
    service_name: ClassVar[str] = "provisioner"

    http_port: int = 8101

    provider: str | None = None
    """``docker``, ``hetzner`` or ``fake`` (tests and the labelled demo). Required in production."""

    stuck_after_seconds: float = Field(default=1800.0, gt=0)
    """An instance left in a transitional state this long is marked failed and announced."""

    fake_latency_seconds: float = Field(default=0.0, ge=0)
    fake_fail_operations: frozenset[str] = frozenset()
    """Operations of the fake provider that fail permanently (create, pause, wake, destroy)."""
    fake_transient_failures: int = Field(default=0, ge=0)
    """How many times each fake operation fails with a retryable error before it succeeds."""

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.provider in (None, "fake"):
            problems.append("PROVIDER must be docker or hetzner in production (not the fake)")
        return problems
