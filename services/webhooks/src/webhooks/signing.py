"""How a delivery is signed: Stripe's scheme under our header name.

``ClaudeCloud-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``, with one
``v1`` per secret that signs (two for a while after a rotation, newest first). A receiver
recomputes the HMAC over the raw body with its secret, compares in constant time with any
``v1``, and refuses a ``t`` too far from now (replays).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from pydantic import SecretStr

__all__ = ["signature"]


def signature(secrets: Sequence[SecretStr], timestamp: int, body: bytes) -> str:
    """The header's value for ``body`` sent at ``timestamp``."""
    signed = f"{timestamp}.".encode() + body
    parts = [f"t={timestamp}"]
    for secret in secrets:
        digest = hmac.new(secret.get_secret_value().encode(), signed, hashlib.sha256).hexdigest()
        parts.append(f"v1={digest}")
    return ",".join(parts)
