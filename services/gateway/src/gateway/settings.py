"""Gateway settings (``GATEWAY_*``, then the plain names)."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, ClassVar, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from claudecloud_common.settings import (
    DEFAULT_SECRET_PREFIX,
    ConfigurationError,
    Environment,
    ServiceSettings,
    is_default_secret,
)

MIN_JWT_SECRET_BYTES = 32


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

    instance_cache_seconds: float = Field(default=2.0, ge=0)
    """How long an instance read from the provisioner may be served again. Every instance event
    this replica hears drops the entry at once; this bounds staleness should one be missed
    (0 asks the provisioner on every read)."""

    max_body_bytes: int = Field(default=64 * 1024, gt=0)

    # Sign-in
    jwt_secret: SecretStr = SecretStr(f"{DEFAULT_SECRET_PREFIX}jwt-secret-change-me-in-production")
    """HS256 key of every token the gateway issues; at least 32 bytes."""
    jwt_issuer: str = "claudecloud"
    magic_link_ttl_seconds: int = Field(default=15 * 60, gt=0)
    session_ttl_seconds: int = Field(default=24 * 3600, gt=0)
    session_check_cache_seconds: float = Field(default=2.0, ge=0)
    """How long a replica trusts what it last read about a user's logout cutoff. A logout is
    seen at once by the replica that handled it and within this time by the others; 0 reads
    the database on every request."""

    smtp_host: str | None = None
    """Where magic links are mailed; unset means they are logged instead (development)."""
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    """Upgrade the connection with STARTTLS (port 587). ``smtp_tls`` is implicit TLS (465)."""
    smtp_tls: bool = False
    smtp_sender: str = "ClaudeCloud <no-reply@localhost>"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)

    # Protections
    redis_url: str | None = None
    """Rate-limit counters live here when set, so replicas share them; else in memory."""
    rate_limit_login: str = "5/minute"
    rate_limit_api: str = "60/minute"
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()
    """Comma-separated addresses or networks of reverse proxies whose ``X-Forwarded-For`` is
    believed; from anyone else the header is ignored."""

    # Working inside instances: the terminal and chat WebSockets, the files and projects proxies
    dashboard_origins: Annotated[tuple[str, ...], NoDecode] = ()
    """Comma-separated origins (``https://app.example.com``) whose pages may open terminal and chat
    WebSockets with a ticket or the session cookie; empty means ``BASE_URL``'s own origin."""
    ticket_ttl_seconds: float = Field(default=30.0, gt=0)
    """A WebSocket ticket works once, within this long of being issued."""
    agent_endpoint_cache_seconds: float = Field(default=5.0, ge=0)
    """How long an instance's agent address and secret are reused before asking again."""
    agent_timeout_seconds: float = Field(default=30.0, gt=0)
    """How long a proxied files or projects call may wait for the agent to start answering."""
    agent_clone_timeout_seconds: float = Field(default=330.0, gt=0)
    """How long a proxied clone may take (the agent stops its own clone before this)."""
    ws_max_message_bytes: int = Field(default=1024 * 1024, gt=0)
    """A WebSocket message larger than this, from either side, closes the connection (1009)."""
    ws_ping_interval_seconds: float = Field(default=20.0, gt=0)
    """Both legs of a proxied WebSocket are pinged this often; a silent peer is dropped."""

    # Billing (the gateway refuses to start half-configured)
    billing_enabled: bool = False
    stripe_secret_key: SecretStr | None = None

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(ip_network(v.strip(), strict=False) for v in value.split(",") if v.strip())
        return value

    @field_validator("dashboard_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(v.strip().rstrip("/") for v in value.split(",") if v.strip())
        return value

    @property
    def allowed_origins(self) -> frozenset[str]:
        """Origins allowed to open WebSockets with a ticket or cookie."""
        if self.dashboard_origins:
            return frozenset(self.dashboard_origins)
        base = urlsplit(self.base_url)
        return frozenset({f"{base.scheme}://{base.netloc}"})

    @property
    def is_https(self) -> bool:
        """Under https the session cookie is ``Secure`` and ``__Host-`` prefixed."""
        return urlsplit(self.base_url).scheme == "https"

    @property
    def session_cookie_name(self) -> str:
        return "__Host-session" if self.is_https else "session"

    def jwt_secret_problems(self) -> list[str]:
        if len(self.jwt_secret.get_secret_value().encode()) < MIN_JWT_SECRET_BYTES:
            return [f"JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes"]
        return []

    @model_validator(mode="after")
    def _refuse_weak_jwt_secret(self) -> Self:
        # Production lists this with every other problem; elsewhere it is the only hard rule.
        problems = self.jwt_secret_problems()
        if problems and self.environment is not Environment.PRODUCTION:
            raise ConfigurationError(self.service_name, problems)
        return self

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if is_default_secret(self.jwt_secret):
            problems.append("JWT_SECRET must be set to a non-default secret")
        problems.extend(self.jwt_secret_problems())
        if not self.smtp_host:
            problems.append("SMTP_HOST is required in production (sign-in links are mailed)")
        if self.billing_enabled and is_default_secret(self.stripe_secret_key):
            problems.append("STRIPE_SECRET_KEY is required when BILLING_ENABLED is true")
        if is_default_secret(self.admin_api_key):
            problems.append("ADMIN_API_KEY must be set to a non-default secret")
        elif len(self.admin_api_key.get_secret_value()) < 32:  # type: ignore[union-attr]
            problems.append("ADMIN_API_KEY must be at least 32 characters")
        return problems
