"""What the webhook routes may answer with (the webhooks service's refusals keep their names)."""

from __future__ import annotations

from claudecloud_common.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
)


class SignedInUsersOnly(ForbiddenError):
    """Webhooks belong to a signed-in user; the operator key names nobody."""


class InvalidEndpointUrl(BadRequestError):
    """The URL cannot be an endpoint (its scheme, a user or password in it, its length)."""


class AddressRefused(BadRequestError):
    """The URL resolves to an address deliveries may not reach (loopback, private, link-local,
    cloud metadata), or to nothing."""


class UnknownEventType(BadRequestError):
    """Not an event an endpoint can subscribe to."""


class EndpointNotFound(NotFoundError):
    """No such endpoint of yours."""


class TooManyEndpoints(ConflictError):
    """You have as many endpoints as allowed: delete one first."""
