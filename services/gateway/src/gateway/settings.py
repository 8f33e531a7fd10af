"""Gateway settings (``GATEWAY_*``, then the plain names)."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, ClassVar, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from claudecloud_common.settings import (
    ConfigurationError,
    Environment,
    ServiceSettings,
    is_default_secret,
    kept_secret,
    secret_problems,
)

MIN_JWT_SECRET_BYTES = 32
JWT_SECRET_FILE = "gateway-jwt-secret"  # noqa: S105 (a file name)
CREDENTIALS_KEY_FILE = "gateway-credentials-key"


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

    pause_keeps_memory: bool = True
    """What ``POST /instances/{id}/pause`` does without a body: freeze the instance (memory and
    every process kept, woken in milliseconds) where its provider can, or stop it (only the
    volume is kept). A body's ``keep_memory`` chooses for one pause."""

    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    """The request line and headers together; a longer head is answered 431 unread."""

    # Sign-in
    jwt_secret: SecretStr | None = None
    """HS256 key of every token the gateway issues; at least 32 bytes. Required in production;
    elsewhere, unset means one made on first start and kept in ``DATA_DIR`` (see
    :meth:`signing_secret`)."""
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
    """Both legs of a proxied WebSocket are pinged this often; a silent peer is dropped (the
    agent's leg is not pinged while its instance is frozen: nothing in it can answer)."""
    wake_on_access_seconds: float = Field(default=120.0, gt=0)
    """How long opening the terminal or chat, a files or projects call or the connect script
    waits for a paused or frozen instance it woke to run, before giving up (504)."""

    # Claude credentials users store (see gateway.credentials)
    credentials_key: SecretStr | None = None
    """The key users' Claude API keys and OAuth tokens are encrypted under; at least 32 bytes.
    Required in production; elsewhere, unset means one made on first start and kept in
    ``DATA_DIR``, as the JWT secret is. Changing it makes the stored credentials unreadable."""
    credential_push_timeout_seconds: float = Field(default=10.0, gt=0)
    """How long a push of a credential to an instance's agent may take."""

    # Git providers (gateway.git): GitHub's endpoints by default; GitHub Enterprise, or any
    # provider speaking the same OAuth web and device flows, by these URLs.
    git_client_id: str | None = None
    """The OAuth app's client id; unset: no git provider is offered (its routes say so)."""
    git_client_secret: SecretStr | None = None
    """The OAuth app's client secret (the web flow, refreshes and revocation need it)."""
    git_provider: str = "github"
    """The provider's name in paths (``/me/git/github``) and on the command line."""
    git_provider_name: str = "GitHub"
    """The provider's name as people know it, in messages and on the dashboard."""
    git_authorize_url: str = "https://github.com/login/oauth/authorize"
    git_token_url: str = "https://github.com/login/oauth/access_token"  # noqa: S105 (a URL)
    git_device_code_url: str = "https://github.com/login/device/code"
    git_api_url: str = "https://api.github.com"
    """The REST API (``GET /user``, ``GET /user/repos``; GitHub Enterprise: ``https://HOST/api/v3``)."""
    git_host: str = "https://github.com"
    """Where its repositories are cloned from: workstations' git asks for credentials for it."""
    git_scopes: str = "repo"
    """OAuth scopes asked for, space-separated (``repo``: private repositories, push)."""
    git_pkce: bool = True
    """Send a PKCE S256 challenge in the web flow (GitHub supports it; turn off for a provider
    that refuses it)."""
    git_username: str | None = None
    """The user name git sends with the token; unset: the account's login (GitHub ignores it)."""
    git_refresh_margin_seconds: float = Field(default=300.0, ge=0)
    """A token that expires within this long is refreshed before it is handed to git."""
    git_flow_ttl_seconds: float = Field(default=600.0, gt=0)
    """A web flow's ``state`` (GitHub's code lives 10 minutes) works once, within this long."""
    git_timeout_seconds: float = Field(default=15.0, gt=0)
    """How long a call to the provider may take."""

    # Workstations' own listener: their agents ask the gateway for git credentials there
    agent_port: int | None = None
    """A port of its own serving only ``/agent/...`` (and ``/healthz``), which workstations reach;
    unset: those routes answer on ``HTTP_PORT``."""
    agent_bind_host: str = "0.0.0.0"  # noqa: S104 (workstations reach it; it asks for their secret)
    """Where the workstations' listener listens (its routes demand an agent's secret)."""

    # The dashboard (gateway.web)
    web_dir: Path | None = None
    """The static export of ``web/`` to serve under ``/`` (``make run`` builds it and sets it);
    unset or not built, ``/`` is a minimal page and the API is served as usual."""

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
    def page_origins(self) -> frozenset[str]:
        """Origins whose pages may send state-changing requests: ``BASE_URL``'s own (the
        sign-in page) and the dashboards'."""
        base = urlsplit(self.base_url)
        return self.allowed_origins | {f"{base.scheme}://{base.netloc}"}

    @property
    def is_https(self) -> bool:
        """Under https the session cookie is ``Secure`` and ``__Host-`` prefixed."""
        return urlsplit(self.base_url).scheme == "https"

    @property
    def session_cookie_name(self) -> str:
        return "__Host-session" if self.is_https else "session"

    @property
    def docs_enabled(self) -> bool:
        """``/docs`` and ``/redoc`` load a CDN's script: never on a production origin."""
        return self.environment is not Environment.PRODUCTION

    def signing_secret(self) -> SecretStr:
        """``JWT_SECRET``, or (outside production) the one kept in ``DATA_DIR``, made on the
        first start: random, private to this user (0600), and shared by every replica and
        restart that uses the same ``DATA_DIR``. Never a constant anyone could look up."""
        if self.jwt_secret is not None:
            return self.jwt_secret
        if self.environment is Environment.PRODUCTION:
            raise ConfigurationError(self.service_name, ["JWT_SECRET is required in production"])
        return SecretStr(_kept_secret(self.data_dir / JWT_SECRET_FILE))

    def credentials_secret(self) -> SecretStr:
        """``CREDENTIALS_KEY``, or (outside production) the one kept in ``DATA_DIR``, made on the
        first start like the JWT secret (see :meth:`signing_secret`)."""
        if self.credentials_key is not None:
            return self.credentials_key
        if self.environment is Environment.PRODUCTION:
            raise ConfigurationError(
                self.service_name, ["CREDENTIALS_KEY is required in production"]
            )
        return SecretStr(_kept_secret(self.data_dir / CREDENTIALS_KEY_FILE))

    def jwt_secret_problems(self) -> list[str]:
        if self.jwt_secret is None:
            return []
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
        problems.extend(secret_problems("JWT_SECRET", self.jwt_secret))
        problems.extend(secret_problems("CREDENTIALS_KEY", self.credentials_key))
        if not self.smtp_host:
            problems.append("SMTP_HOST is required in production (sign-in links are mailed)")
        if self.billing_enabled and is_default_secret(self.stripe_secret_key):
            problems.append("STRIPE_SECRET_KEY is required when BILLING_ENABLED is true")
        problems.extend(secret_problems("ADMIN_API_KEY", self.admin_api_key))
        if self.git_client_id and is_default_secret(self.git_client_secret):
            problems.append("GIT_CLIENT_SECRET is required when GIT_CLIENT_ID is set")
        return problems


def _kept_secret(path: Path) -> str:
    """The secret in ``path``, written first if there is none (:func:`kept_secret`); an
    unusable one stops the gateway as any other bad setting does."""
    try:
        return kept_secret(path).get_secret_value()
    except ValueError as exc:
        raise ConfigurationError("gateway", [str(exc)]) from None
