"""Audit service settings (``AUDIT_*``, then the plain names)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from claudecloud_common.settings import ServiceSettings

DAY_SECONDS = 86_400.0


class AuditSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUDIT_", extra="ignore", frozen=True)
    service_name: ClassVar[str] = "audit"

    http_port: int = 8106

    retention_days: float = Field(default=400.0, ge=0)
    """Records older than this are deleted (0 keeps them for ever). Each chain keeps the hash of
    its last deleted record as its anchor, so what remains is still verified from there."""
    retention_interval_seconds: float = Field(default=3600.0, ge=0)
    """How often old records are deleted (0: never, whatever ``retention_days`` says)."""
    verify_batch: int = Field(default=1000, ge=10, le=100_000)
    """Records read at once while a chain is walked."""

    @property
    def retention_seconds(self) -> float | None:
        return self.retention_days * DAY_SECONDS if self.retention_days > 0 else None
