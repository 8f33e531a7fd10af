"""What users' endpoints are told, from what the bus says: one table from a bus event to a webhook
event (its type and data), and the body every try of a delivery sends.

A webhook event's id is the bus event's id: the same for every endpoint of the user, and for
every try. Issue 25's budget events join :data:`TRANSLATIONS` as ``instance.budget_<name>``;
endpoints subscribed to :data:`~claudecloud_common.contracts.webhooks.BUDGET_EVENTS` get them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from claudecloud_common.contracts.activity import InstanceIdleWarning
from claudecloud_common.contracts.base import Event
from claudecloud_common.contracts.instances import (
    InstanceFailed,
    InstanceFrozen,
    InstancePaused,
    InstanceRunning,
    InstanceWoken,
)
from claudecloud_common.contracts.spend import (
    BudgetAlert,
    BudgetEvent,
    BudgetLifted,
    BudgetReached,
)
from claudecloud_common.contracts.webhooks import BUDGET_EVENTS, WebhookEventType

from .errors import UnknownEventType

__all__ = ["SUBSCRIBABLE", "TRANSLATIONS", "Outgoing", "body", "outgoing", "subscribed", "valid"]

T = WebhookEventType


@dataclass(frozen=True)
class Outgoing:
    """A webhook event: its id (the bus event's), type, when it happened, and its data."""

    event_id: UUID
    user_id: UUID
    type: str
    occurred_at: datetime
    data: dict[str, Any]


def _instance(event: Any, **more: Any) -> dict[str, Any]:
    return {"instance_id": str(event.instance_id), "status": event.status.value, **more}


def _budget(event: BudgetEvent, **more: Any) -> dict[str, Any]:
    return {
        "monthly_limit_usd": event.monthly_limit_usd,
        "spent_usd": event.spent_usd,
        "period_start": _when(event.period_start),
        **more,
    }


Translation = Callable[[Any], dict[str, Any]]
TRANSLATIONS: dict[type[Event], tuple[str, Translation]] = {
    InstanceRunning: (T.INSTANCE_RUNNING, lambda e: _instance(e, woken=False)),
    InstanceWoken: (T.INSTANCE_RUNNING, lambda e: _instance(e, woken=True)),
    InstancePaused: (T.INSTANCE_PAUSED, lambda e: _instance(e, reason=e.reason.value)),
    InstanceFrozen: (T.INSTANCE_FROZEN, lambda e: _instance(e, reason=e.reason.value)),
    InstanceFailed: (T.INSTANCE_FAILED, lambda e: _instance(e, code=e.code.value, reason=e.reason)),
    InstanceIdleWarning: (
        T.INSTANCE_IDLE_WARNING,
        lambda e: {
            "instance_id": str(e.instance_id),
            "deadline_at": _when(e.deadline_at),
            "action": e.action,
        },
    ),
    BudgetAlert: (
        T.INSTANCE_BUDGET_ALERT,
        lambda e: _budget(e, threshold=int(e.threshold), hard_stop=e.hard_stop),
    ),
    BudgetReached: (
        T.INSTANCE_BUDGET_REACHED,
        lambda e: _budget(e, instance_ids=[str(i) for i in e.instance_ids]),
    ),
    BudgetLifted: (
        T.INSTANCE_BUDGET_LIFTED,
        lambda e: _budget(e, instance_ids=[str(i) for i in e.instance_ids]),
    ),
}
"""Every bus event an endpoint can hear about, with its webhook type and data."""

SUBSCRIBABLE = frozenset(t for t in T if t is not T.TEST)


def outgoing(event: Event) -> Outgoing | None:
    """The webhook event ``event`` makes (None: endpoints are not told of it)."""
    found = TRANSLATIONS.get(type(event))
    if found is None:
        return None
    kind, translate = found
    user_id: UUID = event.user_id  # type: ignore[attr-defined]
    return Outgoing(event.id, user_id, str(kind), event.occurred_at, translate(event))


def valid(events: Iterable[str]) -> list[str]:
    """The subscription asked for, deduplicated, or :class:`UnknownEventType` naming what is
    not an event type (``*``: every one; ``instance.budget_*``: every budget event)."""
    wanted = list(dict.fromkeys(e.strip() for e in events))
    unknown = [e for e in wanted if e not in SUBSCRIBABLE and e not in ("*", BUDGET_EVENTS)]
    if unknown:
        known = ", ".join(sorted(SUBSCRIBABLE))
        raise UnknownEventType(
            f"not an event type: {', '.join(unknown)} (choose from {known}, {BUDGET_EVENTS} or *)"
        )
    return wanted


def subscribed(events: Iterable[str], event_type: str) -> bool:
    """Whether a subscription to ``events`` includes ``event_type``."""
    for wanted in events:
        if wanted in ("*", event_type):
            return True
        if wanted.endswith("*") and event_type.startswith(wanted[:-1]):
            return True
    return False


def body(event: Outgoing, *, limit: int) -> bytes:
    """What every try of the delivery sends (at most ``limit`` bytes: oversized data is left
    out and said so)."""
    envelope: dict[str, Any] = {
        "id": str(event.event_id),
        "type": event.type,
        "created": int(event.occurred_at.timestamp()),
        "occurred_at": _when(event.occurred_at),
        "data": event.data,
    }
    encoded = json.dumps(envelope, separators=(",", ":")).encode()
    if len(encoded) <= limit:
        return encoded
    envelope["data"] = {"truncated": True}
    return json.dumps(envelope, separators=(",", ":")).encode()


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
