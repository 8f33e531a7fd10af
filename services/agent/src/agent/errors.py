"""The agent's errors, as callers see them: ``{"error": "<Name>", "detail": "..."}``."""

from __future__ import annotations

from typing import ClassVar


class AgentError(Exception):
    status_code: ClassVar[int] = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Unauthorized(AgentError):
    status_code = 401
