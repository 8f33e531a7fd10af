"""Netbird service settings (``NETBIRD_*``, then the plain names)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from claudecloud_common.settings import ServiceSettings

DAY_SECONDS = 86_400


class NetbirdSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NETBIRD_", extra="ignore", frozen=True)
    service_name: ClassVar[str] = "netbird"

    http_port: int = 8104

    api_url: str = "https://api.netbird.io"
    """The Netbird Management API (``NETBIRD_API_URL``); self-hosted: your management URL."""
    api_token: SecretStr | None = None
    """A personal access token of a Netbird service user (``NETBIRD_API_TOKEN``)."""
    api_timeout_seconds: float = Field(default=15.0, gt=0)

    setup_key_expires_seconds: int = Field(default=DAY_SECONDS, ge=DAY_SECONDS, le=31_536_000)
    """How long an instance's one-off setup key lives (Netbird allows one day at the least)."""
    key_cleanup_interval_seconds: float = Field(default=1800.0, gt=0)
    """How often expired setup keys this service created are deleted (default 30 min)."""
    name_prefix: str = Field(default="claudecloud", min_length=1, max_length=20)
    """Starts the name of everything this service makes in Netbird."""

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.api_token is None or not self.api_token.get_secret_value():
            problems.append("NETBIRD_API_TOKEN is required (a Netbird service user's token)")
        return problems
