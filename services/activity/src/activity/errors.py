"""The activity service's errors, as callers see them."""

from __future__ import annotations

from claudecloud_common.errors import NotFoundError


class ActivityNotFound(NotFoundError):
    """No activity is known for this instance (it never ran, or ran before activity knew it)."""
