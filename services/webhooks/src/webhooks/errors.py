"""The webhooks service's errors, as callers see them."""

from __future__ import annotations

from claudecloud_common.errors import BadRequestError, ConflictError, NotFoundError

__all__ = [
    "AddressRefused",
    "EndpointNotFound",
    "InvalidEndpointUrl",
    "SecretUnreadable",
    "TooManyEndpoints",
    "UnknownEventType",
]


class InvalidEndpointUrl(BadRequestError):
    """The URL cannot be an endpoint (its scheme, a user or password in it, its length)."""


class AddressRefused(BadRequestError):
    """The URL resolves to an address deliveries may not reach (loopback, private, link-local,
    metadata), or to nothing."""


class UnknownEventType(BadRequestError):
    """An event type no endpoint can subscribe to."""


class EndpointNotFound(NotFoundError):
    """No such endpoint of yours."""


class TooManyEndpoints(ConflictError):
    """The user has as many endpoints as allowed: delete one first."""


class SecretUnreadable(Exception):
    """A stored secret does not open (the service's key changed): the endpoint's deliveries
    fail until its secret is rotated. Not an ``AppError``: an operator's problem."""
