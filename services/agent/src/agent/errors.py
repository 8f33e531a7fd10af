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


class BadPath(AgentError):
    """A path that is not one (empty, a NUL byte, too long)."""

    status_code = 400


class OutsideData(AgentError):
    """A path that leads out of the data folder, however it gets there."""

    status_code = 403


class PathNotFound(AgentError):
    status_code = 404


class NotAFolder(AgentError):
    status_code = 400


class NotAFile(AgentError):
    status_code = 400


class NotText(AgentError):
    status_code = 415


class BadRepositoryUrl(AgentError):
    """Only http(s), ssh and git URLs of a remote host may be cloned."""

    status_code = 400


class BadProjectName(AgentError):
    status_code = 400


class ProjectExists(AgentError):
    status_code = 409


class CloneFailed(AgentError):
    status_code = 502


class CloneTimedOut(AgentError):
    status_code = 504
