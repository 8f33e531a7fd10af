"""Refusals of the instance API. A refusal from the provisioner keeps its machine-readable code:
each :class:`InstanceRefusal` is its own error (``{"error": "InstanceAlreadyExists", ...}``)."""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from claudecloud_common.contracts.instances import InstanceRefusal, InstanceRejected
from claudecloud_common.errors import AppError, ConflictError, NotFoundError, PaymentRequiredError


class InstanceNotFound(NotFoundError):
    """No such instance, or not the caller's (someone else's is indistinguishable from none)."""


class InstanceAlreadyExists(ConflictError):
    """The user already has a live instance; ``existing_instance_id`` names it."""

    body_fields: ClassVar[dict[str, Any]] = {"existing_instance_id": (UUID | None, None)}


class IllegalTransition(ConflictError):
    """The instance's state does not allow the command (wake a running one, pause a paused one)."""


class PaymentRequired(PaymentRequiredError):
    """Billing is on and the user has no subscription that allows this; ``detail`` says what to
    do (choose a plan, or update the card in the billing portal)."""


REFUSALS: dict[InstanceRefusal, type[AppError]] = {
    InstanceRefusal.ALREADY_EXISTS: InstanceAlreadyExists,
    InstanceRefusal.ILLEGAL_TRANSITION: IllegalTransition,
    InstanceRefusal.PAYMENT_REQUIRED: PaymentRequired,
}


def refused(event: InstanceRejected) -> AppError:
    """The error a caller sees for the provisioner's rejection."""
    extra = {}
    if event.existing_instance_id is not None:
        extra["existing_instance_id"] = str(event.existing_instance_id)
    return REFUSALS[event.error](event.detail, **extra)
