"""Webhooks service settings (``WEBHOOKS_*``, then the plain names)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from claudecloud_common.settings import (
    Environment,
    ServiceSettings,
    kept_secret,
    secret_problems,
)

SECRETS_KEY_FILE = "webhooks-secrets-key"
DAY_SECONDS = 86_400.0


class WebhooksSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WEBHOOKS_", extra="ignore", frozen=True)
    service_name: ClassVar[str] = "webhooks"

    http_port: int = 8107

    secrets_key: SecretStr | None = None
    """Endpoints' signing secrets are stored encrypted under a key derived from this (at least
    32 bytes). Required in production; elsewhere, unset means one made on the first start and
    kept in ``DATA_DIR``. Changing it makes the stored secrets unreadable (rotate each)."""
    allow_private_addresses: bool | None = None
    """Whether an endpoint may resolve to a loopback, private, link-local (cloud metadata:
    169.254.169.254), shared or reserved address. Unset: allowed outside production only (a
    receiver on 127.0.0.1 in development and tests); production refuses ``true``."""
    require_https: bool | None = None
    """Whether endpoints must be ``https://``. Unset: in production only."""
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    """A delivery's whole exchange (connect, send, the answer's head and capped body)."""
    max_response_bytes: int = Field(default=4096, ge=0, le=1 << 20)
    """At most this much of an answer is read (its first 300 characters are logged)."""
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    """A delivery's body is never larger (an event whose data would be is cut to its id)."""
    retry_backoff_seconds: tuple[float, ...] = (30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0)
    """The waits between tries (the last repeats) until the retry window closes."""
    retry_window_seconds: float = Field(default=DAY_SECONDS, gt=0)
    """How long a delivery is retried; one that still fails then is given up and its endpoint
    disabled (its owner is mailed)."""
    rotation_grace_seconds: float = Field(default=DAY_SECONDS, ge=0)
    """After a rotation, how long the previous secret also signs each delivery."""
    poll_seconds: float = Field(default=2.0, gt=0)
    """How often due retries are looked for (new deliveries go at once)."""
    concurrency: int = Field(default=16, ge=1, le=256)
    """Deliveries in flight at once, per replica."""
    max_endpoints_per_user: int = Field(default=10, ge=1)
    delivery_retention_days: float = Field(default=30.0, gt=0)
    """Finished deliveries older than this leave the delivery log."""

    @property
    def private_addresses_allowed(self) -> bool:
        if self.allow_private_addresses is None:
            return self.environment is not Environment.PRODUCTION
        return self.allow_private_addresses

    @property
    def https_required(self) -> bool:
        if self.require_https is None:
            return self.environment is Environment.PRODUCTION
        return self.require_https

    def sealing_key(self) -> SecretStr:
        """``WEBHOOKS_SECRETS_KEY``, or (outside production) the one kept in ``DATA_DIR``."""
        if self.secrets_key is not None:
            return self.secrets_key
        return kept_secret(self.data_dir / SECRETS_KEY_FILE)

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        problems.extend(secret_problems("WEBHOOKS_SECRETS_KEY", self.secrets_key))
        if self.allow_private_addresses:
            problems.append(
                "WEBHOOKS_ALLOW_PRIVATE_ADDRESSES must be off in production: users' endpoints "
                "could reach the platform's own network and the cloud's metadata service"
            )
        return problems
