"""The rules of a stored Claude credential: encrypted at rest, shown by kind and last four
characters only, every change a new revision for the instances to apply in order."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from claudecloud_agentapi import CredentialKind
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.db import AsyncSession

from .errors import CredentialUnreadable, NoClaudeCredential
from .models import ClaudeCredential
from .repository import CredentialRepository

NONCE_BYTES = 12
TAG_BYTES = 16
"""AES-GCM's tag, after the ciphertext: a sealed value is nonce + value + tag long."""
SHOWN_CHARS = 4
SHOWN_FROM_CHARS = 20
"""Only a credential at least this long shows its last ``SHOWN_CHARS`` characters: of a shorter
one, four would give away too much of it."""


class CredentialCipher:
    """AES-256-GCM under a key derived (HKDF-SHA256) from ``CREDENTIALS_KEY``; the user's id is
    the associated data, so a ciphertext copied to another user's row does not decrypt."""

    def __init__(self, secret: SecretStr) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=b"claudecloud/claude-credential/v1",
        ).derive(secret.get_secret_value().encode())
        self._aead = AESGCM(key)

    def seal(self, user_id: UUID, value: SecretStr, *, purpose: bytes = b"") -> bytes:
        """``value`` encrypted for ``user_id``; a ``purpose`` (``b"git"``) joins the associated
        data, so what is sealed for one use does not open as another's."""
        nonce = os.urandom(NONCE_BYTES)
        plain = value.get_secret_value().encode()
        return nonce + self._aead.encrypt(nonce, plain, user_id.bytes + purpose)

    def open(self, user_id: UUID, sealed: bytes, *, purpose: bytes = b"") -> SecretStr:
        try:
            plain = self._aead.decrypt(
                sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], user_id.bytes + purpose
            )
        except InvalidTag as exc:
            raise CredentialUnreadable(
                "the stored Claude credential cannot be read (the server's key changed); "
                "store it again"
            ) from exc
        return SecretStr(plain.decode())


@dataclass(frozen=True)
class CredentialSummary:
    """What may be shown of a stored credential."""

    kind: CredentialKind
    last_four: str | None
    """None when the credential is too short to show any of it (stored before the minimum)."""
    updated_at: datetime
    revision: int


@dataclass(frozen=True)
class Delivery:
    """What an instance must hold: the credential (``value``), or none at ``revision``."""

    revision: int
    kind: CredentialKind | None = None
    value: SecretStr | None = None


class CredentialService:
    def __init__(self, session: AsyncSession, cipher: CredentialCipher) -> None:
        self.credentials = CredentialRepository(session)
        self.cipher = cipher

    async def store(self, user_id: UUID, kind: CredentialKind, value: SecretStr) -> Delivery:
        """Keep ``value`` (encrypted) as the user's credential, replacing any other."""
        row = await self.credentials.save(
            user_id,
            kind=kind.value,
            ciphertext=self.cipher.seal(user_id, value),
            last_four=shown_tail(len(value.get_secret_value()), value.get_secret_value()),
            now=utcnow(),
        )
        return Delivery(row.revision, kind, value)

    async def clear(self, user_id: UUID) -> Delivery | None:
        """Forget the user's credential; ``None`` when there never was one (nothing to tell)."""
        if await self.credentials.get(user_id) is None:
            return None
        row = await self.credentials.save(
            user_id, kind=None, ciphertext=None, last_four=None, now=utcnow()
        )
        return Delivery(row.revision)

    async def summary(self, user_id: UUID) -> CredentialSummary:
        row = await self.credentials.get(user_id)
        if row is None or row.kind is None or row.ciphertext is None:
            raise NoClaudeCredential("no Claude credential is stored; PUT one to store it")
        length = len(row.ciphertext) - NONCE_BYTES - TAG_BYTES  # no need to decrypt it
        return CredentialSummary(
            CredentialKind(row.kind),
            shown_tail(length, row.last_four or ""),
            row.updated_at,
            row.revision,
        )

    async def delivery(self, user_id: UUID) -> Delivery | None:
        """What the user's instances must hold now (``None``: nothing was ever stored)."""
        row = await self.credentials.get(user_id)
        return None if row is None else self._delivery(row)

    def _delivery(self, row: ClaudeCredential) -> Delivery:
        if row.kind is None or row.ciphertext is None:
            return Delivery(row.revision)
        value = self.cipher.open(row.user_id, row.ciphertext)
        return Delivery(row.revision, CredentialKind(row.kind), value)


def shown_tail(length: int, value: str) -> str | None:
    """The last characters of a credential ``length`` long that may be shown (of ``value``, the
    credential or its stored tail), or None when it is too short to show any."""
    return value[-SHOWN_CHARS:] if length >= SHOWN_FROM_CHARS else None
