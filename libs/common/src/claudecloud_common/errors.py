"""The one exception tree. Every service subclasses these; one handler maps them to HTTP."""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AppError",
    "BadRequestError",
    "ConflictError",
    "ForbiddenError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PaymentRequiredError",
    "RateLimitedError",
    "UnauthorizedError",
    "UnavailableError",
]


class AppError(Exception):
    """Base of every error a caller is meant to see.

    ``error`` is the class name (``InstanceNotFound``), ``detail`` a sentence for a person, and
    ``extra`` any structured fields worth returning (for instance the id of a conflicting
    instance). Never put a secret in any of them.
    """

    status_code: ClassVar[int] = 500

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def error(self) -> str:
        return type(self).__name__

    def to_body(self) -> dict[str, Any]:
        return {"error": self.error, "detail": self.detail, **self.extra}


class BadRequestError(AppError):
    status_code = 400


class UnauthorizedError(AppError):
    status_code = 401


class PaymentRequiredError(AppError):
    """The caller must pay first (billing is on and they have no subscription in good standing)."""

    status_code = 402


class ForbiddenError(AppError):
    status_code = 403


class NotFoundError(AppError):
    status_code = 404


class ConflictError(AppError):
    status_code = 409


class PayloadTooLargeError(AppError):
    status_code = 413


class RateLimitedError(AppError):
    status_code = 429


class UnavailableError(AppError):
    """A dependency (the bus, a service, the database) did not answer in time; retry later."""

    status_code = 503
