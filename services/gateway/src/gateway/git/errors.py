"""Refusals about git providers: connecting, tokens, and workstations asking for them."""

from __future__ import annotations

from claudecloud_common.errors import (
    AppError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
)


class GitProviderNotFound(NotFoundError):
    """No git provider of this name is configured here (``GIT_CLIENT_ID`` and its URLs)."""


class GitNotConnected(ConflictError):
    """The user has not connected this git provider (or disconnected it): connect it first."""


class GitAuthorizationRejected(BadRequestError):
    """A web flow's ``state`` that is unknown, already used, expired, another user's or another
    browser's, or a callback the provider sent without a code: start the connection again."""


class DeviceCodeExpired(AppError):
    """The device flow's code expired before it was entered: start again."""

    status_code = 410


class GitAccessDenied(ForbiddenError):
    """The user declined the authorization at the provider."""


class GitProviderRefused(AppError):
    """The provider refused or failed a call (its own words in ``detail``, never a token)."""

    status_code = 502


class GitReconnectNeeded(ConflictError):
    """The provider no longer accepts the stored grant (revoked, or its refresh token expired):
    connect again."""


class GitTokenUnreadable(AppError):
    """The stored token cannot be decrypted: ``CREDENTIALS_KEY`` changed; connect again."""

    status_code = 500


class NotProviderHost(NotFoundError):
    """Git asked for a host that is not the provider's: the helper has nothing to say."""


class AgentNotRecognised(UnauthorizedError):
    """The caller is not the running agent of that instance (unknown instance, wrong secret)."""
