"""The netbird service's errors."""

from __future__ import annotations

from claudecloud_common.errors import ConflictError

__all__ = ["MeshNotReady", "NetbirdAPIError"]


class NetbirdAPIError(Exception):
    """Netbird's Management API answered with an error, or not at all (``status`` 0).

    ``status`` is the HTTP status Netbird answered, ``message`` what Netbird said. Not an
    ``AppError``: a bus handler that lets a retryable one escape is redelivered with backoff.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Netbird answered {status or 'nothing'}: {message}")
        self.status = status
        self.message = message

    @property
    def retryable(self) -> bool:
        """Whether asking again may help: no answer, 429, or a server error."""
        return self.status in (0, 429) or self.status >= 500

    @property
    def not_found(self) -> bool:
        return self.status == 404


class MeshNotReady(ConflictError):
    """The instance has no finished mesh (not a Hetzner instance, still being made, or gone)."""
