"""Sign-in rules: who a user is, how a magic link becomes a session, and what logging out ends.

Services hold the rules and use the session they are given; the request edge commits.
"""

from __future__ import annotations

import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode
from uuid import UUID

from email_validator import EmailNotValidError, validate_email

from claudecloud_common.contracts.base import utcnow
from claudecloud_common.db import AsyncSession

from .errors import LinkAlreadyUsed, SignedOut, UnknownUser
from .models import MAX_EMAIL_LENGTH, User
from .repository import MagicLinkRepository, UserRepository
from .tokens import Claims, Issued, Purpose, Tokens


def normalise_email(raw: str) -> str:
    """One address, one user: exactly one mailbox, checked by ``email-validator`` (no display
    name, list, quoted local part, control or invisible character, or special-use domain),
    then Unicode-normalised and lower-cased; ValueError saying why when it is not."""
    try:
        checked = validate_email(
            unicodedata.normalize("NFKC", raw).strip(), check_deliverability=False
        )
    except EmailNotValidError as exc:
        raise ValueError(f"not an email address: {exc}") from None
    email = checked.normalized.lower()
    if len(email) > MAX_EMAIL_LENGTH:
        raise ValueError("not an email address: too long")
    return email


@dataclass(frozen=True)
class MagicLink:
    email: str
    url: str


class AccountService:
    def __init__(self, session: AsyncSession, tokens: Tokens, *, base_url: str) -> None:
        self.users = UserRepository(session)
        self.links = MagicLinkRepository(session)
        self.tokens = tokens
        self.base_url = base_url.rstrip("/")

    async def start_sign_in(self, email: str) -> MagicLink:
        """Find or create the user of ``email`` (as :func:`normalise_email` returned it, at
        the edge) and make their single-use link. The link is built from ``BASE_URL``, never
        from what the request says its host is."""
        user = await self.users.get_or_create(email)
        issued = self.tokens.issue(user.id, user.email, Purpose.MAGIC_LINK)
        query = urlencode({"token": issued.token})
        return MagicLink(email=user.email, url=f"{self.base_url}/auth/verify?{query}")

    async def finish_sign_in(self, magic_token: str) -> tuple[User, Issued]:
        """Spend the magic link (once) for a session."""
        claims = self.tokens.verify(magic_token, Purpose.MAGIC_LINK)
        user = await self.users.get(claims.user_id)
        if user is None or user.email != claims.email:
            raise UnknownUser("this sign-in link is for an account that no longer exists")
        if not await self.links.claim(claims.jti, user.id, claims.expires_at):
            raise LinkAlreadyUsed("this sign-in link was already used: ask for a new one")
        await self.links.forget_expired(utcnow())
        return user, self.tokens.issue(user.id, user.email, Purpose.SESSION)

    async def user_for(self, claims: Claims) -> SessionUser:
        """The user a session belongs to, unless they logged out after it was issued."""
        user = await self.users.get(claims.user_id)
        if user is None:
            raise UnknownUser("this session's account no longer exists")
        return admit(claims, SessionUser(user.id, user.email, user.sessions_valid_after))

    async def sign_out(self, user_id: UUID) -> None:
        """End every session of this user issued until now (on every device)."""
        await self.users.set_sessions_valid_after(user_id, utcnow())


@dataclass(frozen=True)
class SessionUser:
    """What checking a session needs to know about its user."""

    id: UUID
    email: str
    sessions_valid_after: datetime | None


def admit(claims: Claims, user: SessionUser) -> SessionUser:
    """The rule: a session issued at or before the user's last logout is over."""
    cutoff = user.sessions_valid_after
    if cutoff is not None and claims.issued_at <= cutoff:
        raise SignedOut("this session was signed out: sign in again")
    return user


class RecentUsers:
    """Users just checked, kept for ``ttl`` seconds so most requests need no query.

    A logout is seen at once by the replica that handled it (it forgets the user) and within
    ``ttl`` by the others; ``ttl=0`` checks the database on every request.
    """

    def __init__(self, ttl: float, *, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._users: OrderedDict[UUID, tuple[float, SessionUser]] = OrderedDict()

    def get(self, user_id: UUID) -> SessionUser | None:
        entry = self._users.get(user_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, user: SessionUser) -> None:
        if self.ttl <= 0:
            return
        self._users[user.id] = (time.monotonic() + self.ttl, user)
        self._users.move_to_end(user.id)
        while len(self._users) > self.size:
            self._users.popitem(last=False)

    def forget(self, user_id: UUID) -> None:
        self._users.pop(user_id, None)
