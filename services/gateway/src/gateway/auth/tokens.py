"""Signed tokens: the magic link and the session, both HS256 JWTs with a purpose.

Only HS256 is accepted (``alg: none`` and every other algorithm are refused), ``exp``, ``iat``,
``iss``, ``sub``, ``jti`` and ``purpose`` are required, and a token of one purpose never passes
for the other.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import jwt

from .errors import TokenRejected

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "sub", "jti", "purpose", "email"]
LEEWAY_SECONDS = 5


class Purpose(StrEnum):
    SESSION = "session"
    MAGIC_LINK = "magic_link"


@dataclass(frozen=True)
class Claims:
    user_id: UUID
    email: str
    purpose: Purpose
    jti: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Issued:
    token: str
    claims: Claims


class Tokens:
    """Issues and checks the gateway's tokens with one secret and one issuer."""

    def __init__(self, secret: str, issuer: str, ttl_seconds: dict[Purpose, int]) -> None:
        self._secret = secret
        self.issuer = issuer
        self.ttl_seconds = ttl_seconds

    def issue(self, user_id: UUID, email: str, purpose: Purpose) -> Issued:
        # ``iat`` keeps its fraction of a second so a logout cuts off exactly the sessions
        # issued before it, not a whole second's worth.
        now = time.time()
        claims = Claims(
            user_id=user_id,
            email=email,
            purpose=purpose,
            jti=secrets.token_urlsafe(24),
            issued_at=datetime.fromtimestamp(now, UTC),
            expires_at=datetime.fromtimestamp(int(now) + self.ttl_seconds[purpose], UTC),
        )
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": str(user_id),
            "user_id": str(user_id),
            "email": email,
            "purpose": purpose.value,
            "jti": claims.jti,
            "iat": now,
            "exp": int(claims.expires_at.timestamp()),
        }
        return Issued(jwt.encode(payload, self._secret, algorithm=ALGORITHM), claims)

    def verify(self, token: str, purpose: Purpose) -> Claims:
        """The token's claims, or :class:`TokenRejected` saying why not (never the secret)."""
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejected(f"{_name(purpose)} has expired") from exc
        except (jwt.PyJWTError, *_UNREADABLE) as exc:
            raise TokenRejected(f"invalid {_name(purpose)}") from exc
        return _claims(payload, purpose)

    def signed_for(self, token: str, purpose: Purpose) -> UUID | None:
        """Whose token this is, when it carries our signature (even expired or already used),
        for the audit of a failed sign-in; None for anything we did not sign."""
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS, "verify_exp": False},
            )
            return _claims(payload, purpose).user_id
        except (jwt.PyJWTError, TokenRejected, *_UNREADABLE):
            return None


_UNREADABLE = (TypeError, ValueError, OverflowError, OSError)
"""How a claim that is no date, no UUID or out of every range fails to convert: a signed but
unreadable token is as invalid as a forged one (401), never a server error."""


def _name(purpose: Purpose) -> str:
    return "session" if purpose is Purpose.SESSION else "sign-in link"


def _claims(payload: dict[str, Any], purpose: Purpose) -> Claims:
    if payload.get("purpose") != purpose.value:
        raise TokenRejected(f"this token is not a {_name(purpose)}")
    try:
        return Claims(
            user_id=UUID(str(payload["sub"])),
            email=str(payload["email"]),
            purpose=purpose,
            jti=str(payload["jti"]),
            issued_at=datetime.fromtimestamp(float(payload["iat"]), UTC),
            expires_at=datetime.fromtimestamp(float(payload["exp"]), UTC),
        )
    except _UNREADABLE as exc:
        raise TokenRejected(f"invalid {_name(purpose)}") from exc
