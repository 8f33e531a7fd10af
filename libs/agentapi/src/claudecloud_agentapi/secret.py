"""The agent's secret, and what a machine keeps of it.

The gateway, activity and the provisioner call the agent with the instance's secret. The machine
never keeps that secret, where Claude, the panes' shells and anything they run could read it (the
agent runs as the user's uid: a file or an environment it reads, they can read). It keeps an
:class:`AgentCredential`: a verifier (a hash the secret must match) and the token the agent names
itself with to the gateway (an HMAC of the secret). Neither lets anyone call the agent; the token
only asks the gateway for what the machine's own credential helper already gives its user.

``PUT /secret``: the agent's secret, replaced. A warm-pool machine starts with a pool secret;
the provisioner gives it its owner's when a create claims it, and the old one stops working at
once."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from .credentials import WireSecret

__all__ = ["MIN_SECRET_CHARS", "AgentCredential", "SecretRotation", "gateway_token"]

MIN_SECRET_CHARS = 32

_PREFIX = "agent-credential:v1:"
_VERIFIER = b"claudecloud agent verifier\0"
_TO_GATEWAY = b"claudecloud agent to gateway"


def gateway_token(secret: str) -> str:
    """What the agent presents to the gateway, derived from the instance's secret."""
    return hmac.new(secret.encode(), _TO_GATEWAY, hashlib.sha256).hexdigest()


def _verifier(secret: str) -> str:
    return hashlib.sha256(_VERIFIER + secret.encode()).hexdigest()


@dataclass(frozen=True)
class AgentCredential:
    """What a machine keeps instead of its agent's secret (one line: a file, an environment
    variable, a Kubernetes Secret's value)."""

    verifier: str
    token: str
    """:func:`gateway_token` of the secret."""

    @classmethod
    def of(cls, secret: str) -> AgentCredential:
        return cls(_verifier(secret), gateway_token(secret))

    @classmethod
    def parse(cls, text: str) -> AgentCredential:
        """A kept credential, or a secret itself (an older machine's file or environment)."""
        text = text.strip()
        if not text.startswith(_PREFIX):
            return cls.of(text)
        verifier, _, token = text.removeprefix(_PREFIX).partition(":")
        if len(verifier) != 64 or len(token) != 64:
            raise ValueError("not an agent credential")
        return cls(verifier, token)

    def dump(self) -> str:
        return f"{_PREFIX}{self.verifier}:{self.token}"

    def accepts(self, presented: str) -> bool:
        """Whether ``presented`` is the secret (compared in constant time)."""
        return hmac.compare_digest(_verifier(presented), self.verifier)


class SecretRotation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    secret: WireSecret = Field(min_length=MIN_SECRET_CHARS, max_length=512)
    instance_id: UUID | None = None
    """The instance the machine now is (a pool machine's agent did not know it): what it names
    itself to the gateway as (git credentials)."""
