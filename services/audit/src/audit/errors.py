"""The audit service's errors, as callers see them."""

from __future__ import annotations

from claudecloud_common.errors import BadRequestError

__all__ = ["AmbiguousChain"]


class AmbiguousChain(BadRequestError):
    """A question named both a user and the platform's own chain: ask about one of them."""
