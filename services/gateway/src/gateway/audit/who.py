"""Who acts, and from where: what every audit record the gateway makes says about its caller.

The address is the one the rate limits count (the nearest hop that is not a trusted proxy); the
user agent is cut to the contract's length. A signed-in user acts as themselves, the operator
key as ``operator``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends
from starlette.requests import HTTPConnection

from claudecloud_common.contracts.audit import (
    Actor,
    ActorKind,
    AuditKind,
    AuditOutcome,
    AuditRecorded,
    Detail,
    Origin,
)

from ..auth.identify import Caller
from ..auth.ratelimit import client_address
from ..deps import CallerDep, StateDep
from ..settings import GatewaySettings
from .recorder import AuditRecorder

__all__ = ["Who", "WhoDep", "actor_of", "origin_of"]

USER_AGENT_CHARS = 300


def origin_of(connection: HTTPConnection, settings: GatewaySettings) -> Origin:
    agent = connection.headers.get("user-agent")
    return Origin(
        address=client_address(connection, settings.trusted_proxies)[:64],
        user_agent=agent[:USER_AGENT_CHARS] if agent else None,
    )


def actor_of(caller: Caller) -> Actor:
    if caller.is_admin or caller.user_id is None:
        return Actor(kind=ActorKind.OPERATOR, id="api-key")
    return Actor(kind=ActorKind.USER, id=str(caller.user_id))


def correlation_of(connection: HTTPConnection) -> str | None:
    found: str | None = getattr(connection.state, "correlation_id", None)
    return found


@dataclass(frozen=True)
class Who:
    """The caller of one request, ready to record what they did."""

    actor: Actor
    origin: Origin
    recorder: AuditRecorder
    correlation_id: str | None = None

    def as_user(self, user_id: UUID) -> Who:
        """The same connection, now known to be ``user_id`` (a sign-in)."""
        return replace(self, actor=Actor(kind=ActorKind.USER, id=str(user_id)))

    def record(
        self,
        kind: AuditKind,
        user_id: UUID | None,
        *,
        instance_id: UUID | None = None,
        outcome: AuditOutcome = AuditOutcome.OK,
        **detail: Any,
    ) -> None:
        """Record ``kind`` on ``user_id``'s chain (whose thing it was), off the request's path."""
        facts: Detail = {k: v for k, v in detail.items() if v is not None}
        self.recorder.record(
            AuditRecorded(
                user_id=user_id,
                kind=kind,
                actor=self.actor,
                origin=self.origin,
                instance_id=instance_id,
                outcome=outcome,
                detail=facts,
                correlation_id=self.correlation_id,
            )
        )


def who_is(
    connection: HTTPConnection,
    caller: Caller | None,
    recorder: AuditRecorder,
    settings: GatewaySettings,
) -> Who:
    """The :class:`Who` of a connection (``caller`` None: nobody known yet)."""
    actor = actor_of(caller) if caller is not None else Actor(kind=ActorKind.ANONYMOUS)
    return Who(actor, origin_of(connection, settings), recorder, correlation_of(connection))


def get_who(connection: HTTPConnection, caller: CallerDep, state: StateDep) -> Who:
    """The request's caller as the audit records them."""
    return who_is(connection, caller, state.audit, state.settings)


WhoDep = Annotated[Who, Depends(get_who)]
