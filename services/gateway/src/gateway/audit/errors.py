"""What the audit routes may answer with."""

from __future__ import annotations

from claudecloud_common.errors import ForbiddenError


class SignedInUsersOnly(ForbiddenError):
    """A user's audit log is theirs: the operator key reads anyone's with
    ``claude-cloud-admin audit``."""
