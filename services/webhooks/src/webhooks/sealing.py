"""Signing secrets at rest: AES-256-GCM under a key derived (HKDF-SHA256) from the service's
``WEBHOOKS_SECRETS_KEY``; the endpoint's id is the associated data, so a sealed secret copied to
another endpoint's row does not open."""

from __future__ import annotations

import os
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from .errors import SecretUnreadable

__all__ = ["Sealer"]

NONCE_BYTES = 12


class Sealer:
    def __init__(self, key: SecretStr) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"claudecloud/webhook-secret/v1"
        ).derive(key.get_secret_value().encode())
        self._aead = AESGCM(derived)

    def seal(self, endpoint_id: UUID, secret: SecretStr) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        plain = secret.get_secret_value().encode()
        return nonce + self._aead.encrypt(nonce, plain, endpoint_id.bytes)

    def open(self, endpoint_id: UUID, sealed: bytes) -> SecretStr:
        try:
            plain = self._aead.decrypt(
                sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], endpoint_id.bytes
            )
        except InvalidTag as exc:
            raise SecretUnreadable(f"endpoint {endpoint_id}'s secret does not open") from exc
        return SecretStr(plain.decode())
