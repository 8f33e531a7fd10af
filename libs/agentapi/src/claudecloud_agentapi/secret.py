"""``PUT /secret``: the agent's secret, replaced. A warm-pool machine starts with a pool secret;
the provisioner gives it its owner's when a create claims it, and the old one stops working at
once."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from .credentials import WireSecret

__all__ = ["MIN_SECRET_CHARS", "SecretRotation"]

MIN_SECRET_CHARS = 32


class SecretRotation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    secret: WireSecret = Field(min_length=MIN_SECRET_CHARS, max_length=512)
    instance_id: UUID | None = None
    """The instance the machine now is (a pool machine's agent did not know it): what it names
    itself to the gateway as (git credentials)."""
