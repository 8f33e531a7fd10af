"""Connecting a git account and keeping its token current: each step is its own transactions
around the one call to the provider that cannot be rolled back (the command runner's shape).

A refresh is serialised twice: within this process by a lock per user, across replicas by a
lease on the account's row, claimed only while the tokens are still the ones read. The provider
kills the old pair the moment it hands out a new one, so two refreshes with one refresh token
would leave the user with none; a caller that finds the lease taken waits for its holder's
pair instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, TypeVar
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import SecretStr

from claudecloud_agentapi import CredentialQuery, GitCredential, GitSetup
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.db import AsyncSession, Database
from claudecloud_common.locks import KeyedLock
from claudecloud_common.logging import get_logger

from ..credentials.service import CredentialCipher
from ..settings import GatewaySettings
from .errors import (
    DeviceCodeExpired,
    GitAccessDenied,
    GitAuthorizationRejected,
    GitNotConnected,
    GitProviderRefused,
    GitReconnectNeeded,
    GitTokenUnreadable,
    NotProviderHost,
)
from .provider import GitProviderClient, OAuthError, ProviderUnreachable, Repository, TokenGrant
from .service import AccountSummary, GitService, Tokens

log = get_logger(__name__)
T = TypeVar("T")

LEASE_WAIT_STEP_SECONDS = 0.2
DEAD_GRANT = frozenset({"bad_refresh_token", "bad_verification_code", "bad_credentials"})
"""The provider's words for a grant that will never work again: the user must connect anew."""


@dataclass(frozen=True)
class DeviceStart:
    handle: str
    user_code: str
    verification_uri: str
    expires_in: int
    interval: int


@dataclass(frozen=True)
class DevicePoll:
    status: Literal["pending", "slow_down", "connected"]
    interval: int
    account: AccountSummary | None = None


class GitConnections:
    """The configured provider, for every user: connect, disconnect, current tokens."""

    def __init__(
        self,
        db: Database,
        cipher: CredentialCipher,
        client: GitProviderClient,
        settings: GatewaySettings,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.client = client
        self.settings = settings
        self.slug = settings.git_provider
        self.name = settings.git_provider_name
        self._locks: KeyedLock[UUID] = KeyedLock()

    @property
    def redirect_uri(self) -> str:
        return f"{self.settings.base_url.rstrip('/')}/me/git/{self.slug}/callback"

    @property
    def host(self) -> str:
        return self.settings.git_host.rstrip("/")

    def how_to_connect(self, again: bool = False) -> str:
        base = self.settings.base_url.rstrip("/")
        return (
            f"connect {self.name}{' again' if again else ''}: open {base}/dashboard/#projects and"
            f" choose 'Connect {self.name}', or run `claude-cloud git connect {self.slug}`"
        )

    def setup(self) -> GitSetup:
        return GitSetup(provider=self.name, hosts=[self.host])

    def _service(self, session: AsyncSession) -> GitService:
        return GitService(session, self.cipher, self.slug)

    # The web flow

    async def start_web(self, user_id: UUID) -> tuple[str, str]:
        """The provider's authorization URL and the nonce the browser must keep (a cookie)."""
        ttl = timedelta(seconds=self.settings.git_flow_ttl_seconds)
        async with self.db.transaction() as session:
            started = await self._service(session).begin_web(user_id, ttl)
        challenge = started.challenge if self.settings.git_pkce else None
        url = self.client.authorize_url(
            state=started.state, redirect_uri=self.redirect_uri, challenge=challenge
        )
        return url, started.browser_nonce

    async def finish_web(
        self, user_id: UUID, *, state: str, browser_nonce: str | None, code: str | None
    ) -> AccountSummary:
        verifier = await self._spend_web(user_id, state, browser_nonce)
        if not code:
            raise GitAuthorizationRejected(f"{self.name} sent no authorization code back")
        try:
            grant = await self.client.exchange_code(
                code,
                redirect_uri=self.redirect_uri,
                verifier=verifier.get_secret_value() if self.settings.git_pkce else None,
            )
        except OAuthError as exc:
            raise GitProviderRefused(f"{self.name} refused the code: {exc.code}") from exc
        return await self._connect(user_id, grant, device_grant=False, flow="web")

    async def finish_web_refused(
        self, user_id: UUID, *, state: str, browser_nonce: str | None
    ) -> None:
        """The user declined at the provider: spend the ``state`` all the same."""
        await self._spend_web(user_id, state, browser_nonce)

    async def _spend_web(self, user_id: UUID, state: str, browser_nonce: str | None) -> SecretStr:
        async with self.db.transaction() as session:  # spent (committed) before any check
            service = self._service(session)
            found = await service.take_web(state)
        return service.web_verifier(found, user_id, browser_nonce)

    # The device flow

    async def start_device(self, user_id: UUID) -> DeviceStart:
        code = await self._call(self.client.start_device())
        async with self.db.transaction() as session:
            handle = await self._service(session).begin_device(
                user_id, code.device_code, interval=code.interval, expires_in=code.expires_in
            )
        return DeviceStart(
            handle, code.user_code, code.verification_uri, code.expires_in, code.interval
        )

    async def poll_device(self, user_id: UUID, handle: str) -> DevicePoll:
        """Ask the provider once whether the user entered the code (the caller keeps time)."""
        async with self.db.read() as session:
            device_code, interval, expired = await self._service(session).device(user_id, handle)
        if expired:
            await self._end_device(handle)
            raise DeviceCodeExpired("the code expired before it was entered: start again")
        try:
            grant = await self.client.poll_device(device_code)
        except OAuthError as exc:
            return await self._device_refusal(handle, exc, interval)
        except ProviderUnreachable as exc:
            raise GitProviderRefused(f"{self.name} did not answer: {exc}") from exc
        if not await self._end_device(handle):
            raise GitAuthorizationRejected("this device authorization was already finished")
        account = await self._connect(user_id, grant, device_grant=True, flow="device")
        return DevicePoll("connected", interval, account)

    async def _device_refusal(self, handle: str, exc: OAuthError, interval: int) -> DevicePoll:
        if exc.code == "authorization_pending":
            return DevicePoll("pending", interval)
        if exc.code == "slow_down":
            slower = exc.interval or interval + 5  # RFC 8628: five seconds more
            async with self.db.transaction() as session:
                await self._service(session).slow_down(handle, slower)
            return DevicePoll("slow_down", slower)
        await self._end_device(handle)
        if exc.code == "expired_token":
            raise DeviceCodeExpired("the code expired before it was entered: start again")
        if exc.code == "access_denied":
            raise GitAccessDenied(f"the authorization was declined at {self.name}")
        raise GitProviderRefused(f"{self.name} refused the device flow: {exc.code}") from exc

    async def _end_device(self, handle: str) -> bool:
        async with self.db.transaction() as session:
            return await self._service(session).end_device(handle)

    async def _connect(
        self, user_id: UUID, grant: TokenGrant, *, device_grant: bool, flow: str
    ) -> AccountSummary:
        # Who the token belongs to, asked anew after every authorization (GitHub's advice).
        account = await self._call(self.client.account(grant.access_token))
        earlier = await self._earlier(user_id)
        async with self.db.transaction() as session:
            summary = await self._service(session).connect(
                user_id, account, grant, device_grant=device_grant
            )
        log.info("git.connected", user_id=str(user_id), provider=self.slug, flow=flow,
                 login=account.login)  # fmt: skip
        if earlier is not None:  # connected again: the token it replaces should not live on
            try:
                await self.client.revoke(earlier.access)
            except (OAuthError, ProviderUnreachable) as exc:
                log.warning("git.revoke_failed", user_id=str(user_id), reason=str(exc))
        return summary

    async def _earlier(self, user_id: UUID) -> Tokens | None:
        try:
            async with self.db.read() as session:
                return await self._service(session).tokens(user_id)
        except (GitNotConnected, GitTokenUnreadable):
            return None

    # The account

    async def summary(self, user_id: UUID) -> AccountSummary | None:
        async with self.db.read() as session:
            return await self._service(session).summary(user_id)

    async def disconnect(self, user_id: UUID) -> bool:
        """Revoke the token at the provider, then forget the account; False when none was
        connected. A provider that does not answer changes nothing (try again)."""
        async with self.db.read() as session:
            summary = await self._service(session).summary(user_id)
            tokens = None if summary is None else await self._service(session).tokens(user_id)
        if tokens is None:
            return False
        try:
            await self.client.revoke(tokens.access)
        except (OAuthError, ProviderUnreachable) as exc:
            raise GitProviderRefused(
                f"{self.name} did not revoke the token ({exc}); nothing changed: try again"
            ) from exc
        async with self.db.transaction() as session:
            await self._service(session).remove(user_id)
        log.info("git.disconnected", user_id=str(user_id), provider=self.slug)
        return True

    async def repositories(
        self, user_id: UUID, *, page: int, per_page: int
    ) -> tuple[list[Repository], bool]:
        tokens = await self.current(user_id)
        try:
            return await self.client.repositories(tokens.access, page=page, per_page=per_page)
        except OAuthError as exc:
            raise GitReconnectNeeded(self.how_to_connect(again=True)) from exc
        except ProviderUnreachable as exc:
            raise GitProviderRefused(f"{self.name} did not answer: {exc}") from exc

    async def credential(self, user_id: UUID, query: CredentialQuery) -> GitCredential:
        """A current token for git asking about ``query``'s host, which must be the provider's."""
        wanted = urlsplit(self.host)
        if (query.protocol.lower(), query.host.lower()) != (wanted.scheme, wanted.netloc.lower()):
            raise NotProviderHost(f"{query.protocol}://{query.host} is not {self.name}'s host")
        tokens = await self.current(user_id)
        return GitCredential(
            username=self.settings.git_username or tokens.login,
            password=tokens.access,
            expires_at=tokens.access_expires_at,
        )

    async def current(self, user_id: UUID) -> Tokens:
        """The user's tokens, refreshed first when the access token expires within the margin."""
        margin = timedelta(seconds=self.settings.git_refresh_margin_seconds)
        tokens = await self._read(user_id)
        if not tokens.expiring(utcnow(), margin):
            return tokens
        async with self._locks.hold(user_id):
            return await self._refresh(user_id, margin)

    async def _refresh(self, user_id: UUID, margin: timedelta) -> Tokens:
        lease = timedelta(seconds=2 * self.settings.git_timeout_seconds + 5)
        deadline = time.monotonic() + lease.total_seconds() + 5
        while True:
            tokens = await self._read(user_id)  # someone may have refreshed meanwhile
            if not tokens.expiring(utcnow(), margin):
                return tokens
            if tokens.refresh is None:
                if tokens.expired(utcnow()):
                    raise GitReconnectNeeded(self.how_to_connect(again=True))
                return tokens  # cannot be refreshed, still works for now
            async with self.db.transaction() as session:
                claimed = await self._service(session).claim_refresh(tokens, user_id, lease)
            if claimed:
                return await self._renew(user_id, tokens)
            if time.monotonic() > deadline:
                raise GitProviderRefused(f"another refresh of the {self.name} token is stuck")
            await asyncio.sleep(LEASE_WAIT_STEP_SECONDS)  # another replica holds the lease

    async def _renew(self, user_id: UUID, tokens: Tokens) -> Tokens:
        assert tokens.refresh is not None
        try:
            grant = await self.client.refresh(tokens.refresh, device_grant=tokens.device_grant)
        except (OAuthError, ProviderUnreachable) as exc:
            async with self.db.transaction() as session:
                await self._service(session).release_refresh(user_id)
            if isinstance(exc, OAuthError) and exc.code in DEAD_GRANT:
                log.warning("git.refresh_refused", user_id=str(user_id), code=exc.code)
                raise GitReconnectNeeded(self.how_to_connect(again=True)) from exc
            if not tokens.expired(utcnow()):
                return tokens  # still works: the next call tries again
            raise GitProviderRefused(f"{self.name} did not refresh the token: {exc}") from exc
        async with self.db.transaction() as session:
            renewed = await self._service(session).refreshed(user_id, grant)
        log.info("git.refreshed", user_id=str(user_id), provider=self.slug)
        return renewed

    async def _read(self, user_id: UUID) -> Tokens:
        try:
            async with self.db.read() as session:
                return await self._service(session).tokens(user_id)
        except GitNotConnected:
            raise GitNotConnected(self.how_to_connect()) from None

    async def _call(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except OAuthError as exc:
            raise GitProviderRefused(f"{self.name} refused: {exc.code}") from exc
        except ProviderUnreachable as exc:
            raise GitProviderRefused(f"{self.name} did not answer: {exc}") from exc
