"""The provisioner's errors, as callers see them."""

from __future__ import annotations

from claudecloud_common.errors import ConflictError, NotFoundError


class InstanceNotFound(NotFoundError):
    pass


class IllegalTransition(ConflictError):
    pass


class InstanceAlreadyExists(ConflictError):
    pass
