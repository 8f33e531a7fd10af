"""The acts the gateway records, each said once: where it happens calls one of these (or
:meth:`Who.record` for a plain one). Nothing here can fail the request it records, and no secret
is put in a record: a credential's kind, a clone URL without its user and password, a path."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from uuid import UUID

import httpx

from claudecloud_common.contracts.audit import AuditKind, AuditOutcome
from claudecloud_common.errors import AppError

from ..auth.tokens import Purpose, Tokens
from .who import Who

__all__ = ["commanded", "sign_in_failed", "signed_in", "socket_session", "without_credentials"]

T = TypeVar("T")


def signed_in(who: Who, user_id: UUID, *, via: str) -> None:
    who.as_user(user_id).record(AuditKind.SIGN_IN, user_id, via=via)


def sign_in_failed(who: Who, tokens: Tokens, token: str, refused: AppError) -> None:
    """On the chain of the link's user when the link is ours (used, expired, the account
    gone), else the platform's: anyone can post garbage."""
    user_id = tokens.signed_for(token, Purpose.MAGIC_LINK) if token else None
    actor = who if user_id is None else who.as_user(user_id)
    actor.record(
        AuditKind.SIGN_IN_FAILED, user_id, outcome=AuditOutcome.REFUSED, error=refused.error
    )


async def commanded(
    who: Who,
    action: str,
    owner: UUID,
    instance_id: UUID | None,
    sending: Awaitable[T],
    **detail: str | bool,
) -> T:
    """Send an instance command (``sending``: ``action`` on ``owner``'s instance) and record
    it, admitted (with the status it reached, or ``queued``) or refused (with why)."""
    facts: dict[str, Any] = {"command": action, **detail}
    try:
        result = await sending
    except AppError as refused:
        outcome = AuditOutcome.REFUSED
        who.record(
            AuditKind.INSTANCE_COMMAND,
            owner,
            instance_id=instance_id,
            outcome=outcome,
            error=refused.error,
            **facts,
        )
        raise
    found = getattr(result, "instance_id", instance_id)
    status = getattr(result, "status", None)
    who.record(AuditKind.INSTANCE_COMMAND, owner, instance_id=found, status=status, **facts)
    return result


@asynccontextmanager
async def socket_session(
    who: Who, user_id: UUID, instance_id: UUID, *, terminal: bool
) -> AsyncIterator[None]:
    """A terminal or chat session: recorded when it opens, and when it closes with how long it
    lasted (however it ends)."""
    opened, closed = (
        (AuditKind.TERMINAL_OPENED, AuditKind.TERMINAL_CLOSED)
        if terminal
        else (AuditKind.CHAT_OPENED, AuditKind.CHAT_CLOSED)
    )
    who.record(opened, user_id, instance_id=instance_id)
    started = time.monotonic()
    try:
        yield
    finally:
        seconds = round(time.monotonic() - started, 1)
        who.record(closed, user_id, instance_id=instance_id, seconds=seconds)


def without_credentials(url: str) -> str:
    """A clone URL as it may be recorded: no user, password or token in it."""
    if "://" not in url:  # scp-like (git@host:path): the user is a login name, not a secret
        return url[:500]
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "(a URL that cannot be read)"
    if parsed.userinfo:
        parsed = parsed.copy_with(username=None, password=None)
    return str(parsed)[:500]
