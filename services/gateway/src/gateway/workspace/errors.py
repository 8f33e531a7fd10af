"""Refusals of working inside an instance: tickets, a stopped instance, an absent agent."""

from __future__ import annotations

from claudecloud_common.errors import AppError, ConflictError, UnauthorizedError


class TicketRejected(UnauthorizedError):
    """A WebSocket ticket that is unknown, already used, expired or for another instance."""


class InstanceNotRunning(ConflictError):
    """The instance exists but is not running (paused, waking, ...): nothing to connect to."""


class WakeTimedOut(AppError):
    """The instance was woken on access but did not run in time."""

    status_code = 504


class AgentUnavailable(AppError):
    """The instance's agent did not answer."""

    status_code = 502
