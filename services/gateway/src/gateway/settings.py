"""Gateway settings (``GATEWAY_*``, then the plain names)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from claudecloud_common.settings import ServiceSettings, is_default_secret


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)
    service_name: ClassVar[str] = "gateway"

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    base_url: str = "http://localhost:8000"

    admin_api_key: SecretStr | None = None
    """``X-API-Key`` for operators; unset means the admin API is closed."""

    admission_timeout_seconds: float = Field(default=3.0, gt=0)
    """How long a command waits for the provisioner to admit or refuse it before the gateway
    answers 202 anyway (the command is durable on the bus and will be handled)."""

    max_body_bytes: int = Field(default=64 * 1024, gt=0)

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if is_default_secret(self.admin_api_key):
            problems.append("ADMIN_API_KEY must be set to a non-default secret")
        elif len(self.admin_api_key.get_secret_value()) < 32:  # type: ignore[union-attr]
            problems.append("ADMIN_API_KEY must be at least 32 characters")
        return problems
