"""Refusals of sign-in and of callers who are not allowed."""

from __future__ import annotations

from claudecloud_common.errors import ForbiddenError, RateLimitedError, UnauthorizedError


class MissingCredentials(UnauthorizedError):
    """No session token, session cookie or API key came with the call."""


class InvalidCredentials(UnauthorizedError):
    """The API key is wrong (and the base of every refused session)."""


class TokenRejected(InvalidCredentials):
    """A session token or sign-in link that is malformed, expired, or of the wrong kind."""


class LinkAlreadyUsed(InvalidCredentials):
    """A sign-in link works once; this one was already spent."""


class SignedOut(InvalidCredentials):
    """The session was issued before its user logged out."""


class UnknownUser(InvalidCredentials):
    """The token's account no longer exists."""


class NotYours(ForbiddenError):
    """A signed-in user named another user (their id comes from their token)."""


class CrossSiteRequest(ForbiddenError):
    """A cookie-authenticated change sent from another site's page."""


class TooManyRequests(RateLimitedError):
    """Over the rate limit; ``Retry-After`` says when to try again."""

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}


class OriginRefused(ForbiddenError):
    """A browser-held credential (ticket, cookie) sent from a page we do not serve."""
