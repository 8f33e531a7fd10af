"""Typed settings: one pydantic-settings class per service on this shared base.

Each service reads ``<PREFIX>_<NAME>`` first and then the plain ``<NAME>``, so one environment can
configure several services at once while each can still be told apart.
"""

from __future__ import annotations

import math
import os
import secrets
import zlib
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import ClassVar, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

__all__ = [
    "ConfigurationError",
    "Environment",
    "ServiceSettings",
    "is_default_secret",
    "kept_secret",
    "secret_problems",
]

DEFAULT_SECRET_PREFIX = "dev-insecure-"  # noqa: S105 (a marker, not a secret)
MIN_SECRET_BYTES = 32
MIN_SECRET_BITS = 128
_ZLIB_OVERHEAD_BYTES = 8  # header, checksum and block framing of zlib.compress
MAKE_A_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'  # noqa: S105 (a command)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class ConfigurationError(Exception):
    """The configuration cannot run; ``problems`` lists every reason at once."""

    def __init__(self, service: str, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{service}: refusing to start with this configuration:\n{lines}")


def is_default_secret(value: SecretStr | None) -> bool:
    return (
        value is None
        or not value.get_secret_value()
        or (value.get_secret_value().startswith(DEFAULT_SECRET_PREFIX))
    )


def secret_problems(name: str, value: SecretStr | None) -> list[str]:
    """Why ``value`` cannot be the production secret ``name``: unset or a default, shorter than
    32 bytes, or guessable (under 128 bits by :func:`estimated_bits`); empty when it will do.
    Each problem says what to run to make a good one."""
    if is_default_secret(value):
        return [f"{name} must be set to a secret of your own; make one with: {MAKE_A_SECRET}"]
    assert value is not None
    secret = value.get_secret_value()
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return [f"{name} must be at least {MIN_SECRET_BYTES} bytes; make one with: {MAKE_A_SECRET}"]
    if estimated_bits(secret) < MIN_SECRET_BITS:
        return [
            f"{name} is guessable (repeated or few distinct characters); make a random one "
            f"with: {MAKE_A_SECRET}"
        ]
    return []


def estimated_bits(secret: str) -> float:
    """A generous estimate of a secret's entropy, the smaller of two: its length times the
    Shannon entropy of its own character frequencies (few distinct characters), and the bits
    zlib needs for it (repeats). ``changeme`` four times: 88; ``0123456789`` four times: 104;
    ``token_urlsafe(48)``: over 300."""
    n = len(secret)
    spread = -n * sum(c / n * math.log2(c / n) for c in Counter(secret).values())
    compressed = 8 * (len(zlib.compress(secret.encode(), 9)) - _ZLIB_OVERHEAD_BYTES)
    return min(spread, compressed)


def kept_secret(path: Path) -> SecretStr:
    """Outside production, a service's own random secret kept in ``path`` (0600), made on the
    first start. Concurrent first starts agree: each writes a private temporary file and links it
    into place, which never replaces one already there, so every process reads the same one."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process got there first: use its secret
        finally:
            draft.unlink()
    secret = path.read_text().strip()
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"{path} holds no usable secret: remove it")
    return SecretStr(secret)


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses set ``service_name`` and the env prefix."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_file=None)

    service_name: ClassVar[str] = "service"

    environment: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path(".data")
    database_url: str | None = None
    nats_url: str = "nats://127.0.0.1:4222"
    """The NATS server, or a comma-separated list of a cluster's servers (``nats://n1:4222,
    nats://n2:4222``): the client connects to any and fails over to the others."""
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
    http_host: str = "127.0.0.1"
    http_port: int = 8100

    otel_exporter_otlp_endpoint: str | None = None
    """Where spans go (OTLP over HTTP, e.g. ``http://collector:4318``); unset: none recorded."""
    rpc_timeout_seconds: float = Field(default=2.0, gt=0)
    bus_ack_wait_seconds: float = Field(default=30.0, gt=0)
    bus_max_deliver: int = Field(default=6, ge=1)
    bus_backoff_seconds: tuple[float, ...] = (0.5, 2.0, 5.0, 15.0, 30.0)
    bus_stream_replicas: int = Field(default=1, ge=1, le=5)
    """Copies JetStream keeps of each stream (CMD, EVT, DLQ): 1 on one server, 3 on a
    three-node cluster. A stream's replicas must not exceed the cluster's servers."""
    bus_max_workers: int = Field(default=16, ge=1)
    """Messages one subscriber handles at once (each may hold a database connection)."""
    db_pool_size: int = Field(default=20, ge=1)
    """Database connections kept open (as many again may be opened under load)."""
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    """How long opening a database connection may take (PostgreSQL)."""
    db_command_timeout_seconds: float = Field(default=10.0, gt=0)
    """How long one statement may wait for its answer (PostgreSQL): a database that stops
    answering fails the request or the handler instead of holding it forever."""
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    """How long a request or handler waits for a free connection when all are in use."""
    outbox_poll_seconds: float = Field(default=2.0, gt=0)
    outbox_grace_seconds: float = Field(default=10.0, ge=0)
    """How old an unpublished outbox row must be before the recovery path publishes it (younger
    ones are the fast path's, here or in another replica)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        unprefixed = EnvSettingsSource(settings_cls, env_prefix="")
        return init_settings, env_settings, unprefixed, file_secret_settings

    @property
    def nats_servers(self) -> list[str]:
        """``NATS_URL`` as the list of servers the client is given."""
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]

    @field_validator("nats_url")
    @classmethod
    def _names_a_server(cls, value: str) -> str:
        if not any(url.strip() for url in value.split(",")):
            raise ValueError("NATS_URL names no server")
        return value

    @property
    def resolved_database_url(self) -> str:
        """The database to use: ``DATABASE_URL``, else one SQLite file under ``DATA_DIR``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / f'{self.service_name}.db'}"

    def production_problems(self) -> list[str]:
        """What stops this configuration from running in production. Subclasses extend it."""
        problems = []
        if not self.database_url:
            problems.append("DATABASE_URL is required in production")
        return problems

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Self:
        if self.environment is Environment.PRODUCTION:
            problems = self.production_problems()
            if problems:
                raise ConfigurationError(self.service_name, problems)
        return self
