"""Refusals of the connect script route (each answered as a script, never as JSON)."""

from __future__ import annotations

from claudecloud_common.errors import BadRequestError


class InvalidUserId(BadRequestError):
    """``?user_id=`` is not a user id."""
