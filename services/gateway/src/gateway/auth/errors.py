"""Refusals of sign-in and of callers who are not allowed."""

from __future__ import annotations

from claudecloud_common.errors import ForbiddenError, RateLimitedError, UnauthorizedError


class MissingCredentials(UnauthorizedError):
    pass


class InvalidCredentials(UnauthorizedError):
    pass


class NotYours(ForbiddenError):
    """A signed-in user named another user (their id comes from their token)."""


class CrossSiteRequest(ForbiddenError):
    """A cookie-authenticated change sent from another site's page."""


class TooManyRequests(RateLimitedError):
    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}


class OriginRefused(ForbiddenError):
    """A browser-held credential (ticket, cookie) sent from a page we do not serve."""
