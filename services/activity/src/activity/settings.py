"""Activity settings (``ACTIVITY_*``, then the plain names)."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from claudecloud_common.settings import ServiceSettings


class ActivitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ACTIVITY_", extra="ignore", frozen=True)
    service_name: ClassVar[str] = "activity"

    http_port: int = 8104

    interval_seconds: float = Field(default=300.0, gt=0)
    """How often every running instance is polled; also the length of a usage sample."""
    idle_threshold_seconds: float = Field(default=7200.0, gt=0)
    """An instance with no real activity this long is paused (reason ``idle``)."""
    grace_seconds: float = Field(default=900.0, ge=0)
    """A chat turn that ended less than this long ago still counts as activity."""
    max_lifetime_seconds: float = Field(default=43200.0, gt=0)
    """The longest run without any human input (typing, a prompt, a wake), however busy."""
    unhealthy_after: int = Field(default=3, ge=1)
    """Failed polls in a row before an instance is named ``agent_unreachable``."""
    agent_timeout_seconds: float = Field(default=5.0, gt=0)
    """One agent's ``/activity`` must answer within this."""
    agent_concurrency: int = Field(default=100, ge=1)
    """Agents asked at once."""
    provider_batch: int = Field(default=500, ge=1, le=2000)
    """Instances per ``rpc.instance.activity`` request."""
    provider_timeout_seconds: float = Field(default=60.0, gt=0)
    provider_concurrency: int = Field(default=4, ge=1)
    """``rpc.instance.activity`` requests in flight at once."""
    decision_retention_hours: float = Field(default=168.0, gt=0)
    """Decisions older than this are forgotten."""
    resync_seconds: float = Field(default=3600.0, gt=0)
    """How often the provisioner's list of running instances is compared with ours (events
    keep it current; this catches what was missed, for example before the first deploy)."""

    @model_validator(mode="after")
    def _grace_within_threshold(self) -> Self:
        if self.grace_seconds > self.idle_threshold_seconds:
            raise ValueError("ACTIVITY_GRACE_SECONDS must not exceed the idle threshold")
        return self
