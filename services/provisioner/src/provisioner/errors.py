"""The provisioner's errors, as callers see them."""

from __future__ import annotations

from claudecloud_common.errors import ConflictError, NotFoundError, PaymentRequiredError


class InstanceNotFound(NotFoundError):
    pass


class IllegalTransition(ConflictError):
    pass


class InstanceAlreadyExists(ConflictError):
    pass


class PaymentRequired(PaymentRequiredError):
    """Billing is on and the user has no subscription that allows creating or waking."""
