"""The rules of a connected git account, on one session (the caller owns the transaction):
tokens sealed at rest and shown by account name and scopes only, authorizations that work once,
for the user and browser that began them, within their time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from pydantic import SecretStr

from claudecloud_common.contracts.base import utcnow
from claudecloud_common.db import AsyncSession

from ..credentials.errors import CredentialUnreadable
from ..credentials.service import CredentialCipher
from .errors import GitAuthorizationRejected, GitNotConnected, GitTokenUnreadable
from .models import GitAccount, GitAuthorization
from .provider import Account, TokenGrant
from .repository import GitAccountRepository, GitAuthorizationRepository

TOKENS = b"git"
"""What an account's tokens are sealed for (with the user's id)."""
FLOW_SECRETS = b"git-flow"
"""What a PKCE verifier or a device code under way is sealed for."""
WEB, DEVICE = "web", "device"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def pkce_challenge(verifier: str) -> str:
    """RFC 7636's S256: base64url(SHA-256(verifier)) without padding."""
    raw = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Tokens:
    """An account's tokens as stored, and what decides whether to refresh them."""

    login: str
    access: SecretStr
    refresh: SecretStr | None
    access_expires_at: datetime | None
    device_grant: bool
    ciphertext: bytes
    """The sealed pair as read: a refresh claims the lease only if it is still this one."""

    def expiring(self, now: datetime, margin: timedelta) -> bool:
        return self.access_expires_at is not None and self.access_expires_at - margin <= now

    def expired(self, now: datetime) -> bool:
        return self.access_expires_at is not None and self.access_expires_at <= now


@dataclass(frozen=True)
class AccountSummary:
    """What may be shown of a connected account: never a token."""

    login: str
    scopes: list[str]
    connected_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class WebStart:
    state: str
    browser_nonce: str
    """Set as a cookie in the browser that began: the callback must come back with it."""
    challenge: str


class GitService:
    def __init__(self, session: AsyncSession, cipher: CredentialCipher, provider: str) -> None:
        self.accounts = GitAccountRepository(session)
        self.authorizations = GitAuthorizationRepository(session)
        self.cipher = cipher
        self.provider = provider

    # Authorizations under way

    async def begin_web(self, user_id: UUID, ttl: timedelta) -> WebStart:
        """A ``state`` bound to the user and to a browser nonce, with a PKCE verifier kept
        sealed until the callback."""
        now = utcnow()
        await self.authorizations.remove_expired(now)
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # 86 characters of RFC 7636's unreserved set
        self.authorizations.add(
            GitAuthorization(
                digest=digest(state),
                user_id=user_id,
                provider=self.provider,
                kind=WEB,
                browser_digest=digest(nonce),
                sealed=self.cipher.seal(user_id, SecretStr(verifier), purpose=FLOW_SECRETS),
                expires_at=now + ttl,
            )
        )
        return WebStart(state, nonce, pkce_challenge(verifier))

    async def take_web(self, state: str) -> GitAuthorization | None:
        """Spend ``state``: whatever the checks of :meth:`web_verifier` say next, it is gone."""
        return await self.authorizations.take(digest(state))

    def web_verifier(
        self, found: GitAuthorization | None, user_id: UUID, browser_nonce: str | None
    ) -> SecretStr:
        """The PKCE verifier a spent ``state`` kept, if it was this user's, in this browser,
        in time; else :class:`GitAuthorizationRejected`."""
        if found is None or found.kind != WEB or found.provider != self.provider:
            raise GitAuthorizationRejected("this authorization is unknown or was already used")
        if _aware(found.expires_at) <= utcnow():
            raise GitAuthorizationRejected("this authorization expired: connect again")
        if found.user_id != user_id:
            raise GitAuthorizationRejected("this authorization was begun by someone else")
        if browser_nonce is None or found.browser_digest != digest(browser_nonce):
            raise GitAuthorizationRejected("this authorization was begun in another browser")
        assert found.sealed is not None
        return self._open(user_id, found.sealed, FLOW_SECRETS)

    async def begin_device(
        self, user_id: UUID, device_code: SecretStr, *, interval: int, expires_in: int
    ) -> str:
        """A handle for the caller to poll with; the provider's device code stays here."""
        now = utcnow()
        await self.authorizations.remove_expired(now)
        handle = secrets.token_urlsafe(32)
        self.authorizations.add(
            GitAuthorization(
                digest=digest(handle),
                user_id=user_id,
                provider=self.provider,
                kind=DEVICE,
                sealed=self.cipher.seal(user_id, device_code, purpose=FLOW_SECRETS),
                interval=interval,
                expires_at=now + timedelta(seconds=expires_in),
            )
        )
        return handle

    async def device(self, user_id: UUID, handle: str) -> tuple[SecretStr, int, bool]:
        """The device code behind the caller's ``handle``, its poll interval, and whether it
        expired; someone else's handle is as unknown as none."""
        found = await self.authorizations.get(digest(handle))
        if (
            found is None
            or found.kind != DEVICE
            or found.user_id != user_id
            or found.provider != self.provider
        ):
            raise GitAuthorizationRejected("this device authorization is unknown or finished")
        assert found.sealed is not None
        expired = _aware(found.expires_at) <= utcnow()
        return self._open(user_id, found.sealed, FLOW_SECRETS), found.interval or 5, expired

    async def end_device(self, handle: str) -> bool:
        """Finish the device authorization; False when another poll finished it first."""
        return await self.authorizations.take(digest(handle)) is not None

    async def slow_down(self, handle: str, interval: int) -> None:
        await self.authorizations.set_interval(digest(handle), interval)

    # The account

    async def connect(
        self, user_id: UUID, account: Account, grant: TokenGrant, *, device_grant: bool
    ) -> AccountSummary:
        """Keep the account and its tokens (replacing an earlier connection)."""
        now = utcnow()
        row = GitAccount(
            user_id=user_id,
            provider=self.provider,
            login=account.login,
            account_id=account.account_id,
            scopes=_scopes(account.scopes if account.scopes is not None else grant.scope),
            ciphertext=self._seal_pair(user_id, grant),
            access_expires_at=_after(now, grant.expires_in),
            refresh_expires_at=_after(now, grant.refresh_token_expires_in),
            device_grant=device_grant,
            connected_at=now,
            updated_at=now,
        )
        return _summary(await self.accounts.save(row))

    async def refreshed(self, user_id: UUID, grant: TokenGrant) -> Tokens:
        """Keep a refreshed pair (the old one is dead at the provider) and free the lease."""
        row = await self._row(user_id)
        now = utcnow()
        row.ciphertext = self._seal_pair(user_id, grant)
        row.access_expires_at = _after(now, grant.expires_in)
        if grant.refresh_token is not None:
            row.refresh_expires_at = _after(now, grant.refresh_token_expires_in)
        row.refresh_lease_until = None
        row.updated_at = now
        await self.accounts.session.flush()
        return self._tokens(row)

    async def summary(self, user_id: UUID) -> AccountSummary | None:
        row = await self.accounts.get(user_id, self.provider)
        return None if row is None else _summary(row)

    async def tokens(self, user_id: UUID) -> Tokens:
        return self._tokens(await self._row(user_id))

    async def claim_refresh(self, tokens: Tokens, user_id: UUID, lease: timedelta) -> bool:
        now = utcnow()
        return await self.accounts.claim_refresh(
            user_id, self.provider, ciphertext=tokens.ciphertext, now=now, until=now + lease
        )

    async def release_refresh(self, user_id: UUID) -> None:
        await self.accounts.release_refresh(user_id, self.provider)

    async def remove(self, user_id: UUID) -> Tokens | None:
        """Forget the account; its tokens (to revoke), or None when there was none."""
        row = await self.accounts.remove(user_id, self.provider)
        return None if row is None else self._tokens(row)

    # Sealing

    async def _row(self, user_id: UUID) -> GitAccount:
        row = await self.accounts.get(user_id, self.provider)
        if row is None:
            raise GitNotConnected(f"no {self.provider} account is connected")
        return row

    def _seal_pair(self, user_id: UUID, grant: TokenGrant) -> bytes:
        pair = {
            "access_token": grant.access_token.get_secret_value(),
            "refresh_token": grant.refresh_token.get_secret_value()
            if grant.refresh_token
            else None,
        }
        return self.cipher.seal(user_id, SecretStr(json.dumps(pair)), purpose=TOKENS)

    def _tokens(self, row: GitAccount) -> Tokens:
        pair = json.loads(self._open(row.user_id, row.ciphertext, TOKENS).get_secret_value())
        refresh = pair.get("refresh_token")
        return Tokens(
            login=row.login,
            access=SecretStr(pair["access_token"]),
            refresh=SecretStr(refresh) if refresh else None,
            access_expires_at=_aware(row.access_expires_at) if row.access_expires_at else None,
            device_grant=row.device_grant,
            ciphertext=row.ciphertext,
        )

    def _open(self, user_id: UUID, sealed: bytes, purpose: bytes) -> SecretStr:
        try:
            return self.cipher.open(user_id, sealed, purpose=purpose)
        except CredentialUnreadable as exc:
            raise GitTokenUnreadable(
                "the stored git token cannot be read (the server's key changed): connect again"
            ) from exc


def _scopes(raw: str) -> str:
    return ",".join(s.strip() for s in raw.replace(" ", ",").split(",") if s.strip())


def _after(now: datetime, seconds: int | None) -> datetime | None:
    return None if seconds is None else now + timedelta(seconds=seconds)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _summary(row: GitAccount) -> AccountSummary:
    return AccountSummary(
        login=row.login,
        scopes=[s for s in row.scopes.split(",") if s],
        connected_at=_aware(row.connected_at),
        expires_at=_aware(row.access_expires_at) if row.access_expires_at else None,
    )
