"""Refusals about a user's stored Claude credential."""

from __future__ import annotations

from claudecloud_common.errors import AppError, NotFoundError


class NoClaudeCredential(NotFoundError):
    """The user has no Claude credential stored."""


class CredentialUnreadable(AppError):
    """The stored credential cannot be decrypted: ``CREDENTIALS_KEY`` changed; store it again."""

    status_code = 500
