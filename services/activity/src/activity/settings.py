"""Activity settings (``ACTIVITY_*``, then the plain names)."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from claudecloud_common.settings import ServiceSettings


class ActivitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ACTIVITY_", extra="ignore", frozen=True)
    service_name: ClassVar[str] = "activity"

    http_port: int = 8104

    interval_seconds: float = Field(default=300.0, gt=0)
    """How often every running instance is polled; also the length of a usage sample."""
    freeze_after_seconds: float = Field(default=600.0, gt=0)
    """An instance with no real activity this long is frozen (reason ``idle``): memory and every
    process kept, a wake in milliseconds. Where its provider cannot keep memory, nothing happens
    here and it is stopped after ``stop_after_seconds`` of idleness instead."""
    stop_after_seconds: float = Field(default=7200.0, gt=0)
    """A frozen instance is stopped (only its volume kept, after a checkpoint) once frozen this
    long, whatever froze it; where the provider cannot keep memory, an idle instance is stopped
    once idle this long."""
    idle_threshold_seconds: float | None = Field(default=None, gt=0)
    """Deprecated (``ACTIVITY_IDLE_THRESHOLD_SECONDS``, the single tier's threshold): read as
    ``stop_after_seconds`` when that is not set."""
    min_available_memory_mb: int = Field(default=512, ge=0)
    """When the shared host's available memory falls under this, the longest-frozen instances
    are stopped first, as many as cover the shortfall and at least one per poll; 0: never."""
    idle_warning_seconds: float = Field(default=300.0, ge=0)
    """An idle instance this close to being frozen (or stopped) is warned about
    (``evt.activity.idle_warning``: the user's webhooks hear it); 0: never."""
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

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("idle_threshold_seconds") is not None:
            data.setdefault("stop_after_seconds", data["idle_threshold_seconds"])
        return data

    @model_validator(mode="after")
    def _grace_within_threshold(self) -> Self:
        if self.grace_seconds > self.stop_after_seconds:
            raise ValueError("ACTIVITY_GRACE_SECONDS must not exceed ACTIVITY_STOP_AFTER_SECONDS")
        return self
