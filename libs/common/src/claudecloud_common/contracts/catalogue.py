"""Every subject on the bus with an example of what it carries, and for ``rpc.*`` of the answer.

The example's class is the subject's message schema; an ``rpc.*`` entry is made from its query,
which names its own subject and answer type (an example answer of another type does not load).
The gateway's ``/docs/asyncapi`` is built from it; a test fails when a subject some service
subscribes to, or a member of a subject enum, has no entry here, or when an example does not
match its schema. The examples are plain values: nothing in them is real.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel

from . import examples as ex
from . import spend_examples as sx
from . import trust_examples as tx
from .activity import ActivitySubject
from .audit import AuditSubject
from .base import Query
from .billing import BillingSubject
from .instances import InstanceSubject
from .netbird import NetbirdSubject
from .ops import CHECKED_SERVICES, OpsSubject, check_query
from .spend import SpendSubject
from .webhooks import WebhookSubject

__all__ = ["CATALOGUE", "SUBJECT_ENUMS", "Channel", "channel_for"]

SUBJECT_ENUMS: tuple[type[StrEnum], ...] = (
    InstanceSubject,
    ActivitySubject,
    BillingSubject,
    NetbirdSubject,
    OpsSubject,
    AuditSubject,
    WebhookSubject,
    SpendSubject,
)
"""Every enum of subjects: each member is either in :data:`CATALOGUE` or a wildcard."""


@dataclass(frozen=True)
class Channel:
    """One subject: what is sent on it (``example``'s class is its schema) and, for ``rpc.*``,
    an example of the ``result`` its answer carries (``{"result": ..., "error": null}``)."""

    subject: StrEnum
    example: BaseModel
    reply: BaseModel | None = None

    @property
    def kind(self) -> Literal["command", "event", "rpc"]:
        prefix = str(self.subject).split(".", 1)[0]
        return {"cmd": "command", "evt": "event"}.get(prefix, "rpc")  # type: ignore[return-value]


_I, _A, _B, _N = InstanceSubject, ActivitySubject, BillingSubject, NetbirdSubject


def _rpc(query: Query[Any], answer: BaseModel) -> Channel:
    """An ``rpc.*`` channel: where ``query`` is asked, and an example of its answer."""
    if not isinstance(answer, query.reply):
        raise TypeError(f"{type(query).__name__} is answered with {query.reply.__name__}")
    return Channel(query.subject, query, answer)


CATALOGUE: tuple[Channel, ...] = (
    Channel(_I.CREATE, ex.INSTANCE_CREATE),
    Channel(_I.PAUSE, ex.INSTANCE_PAUSE),
    Channel(_I.WAKE, ex.INSTANCE_WAKE),
    Channel(_I.DESTROY, ex.INSTANCE_DESTROY),
    Channel(_I.REQUESTED, ex.INSTANCE_REQUESTED),
    Channel(_I.CREATED, ex.INSTANCE_CREATED),
    Channel(_I.ACCEPTED, ex.INSTANCE_ACCEPTED),
    Channel(_I.REJECTED, ex.INSTANCE_REJECTED),
    Channel(_I.RUNNING, ex.INSTANCE_RUNNING),
    Channel(_I.PAUSED, ex.INSTANCE_PAUSED),
    Channel(_I.WOKEN, ex.INSTANCE_WOKEN),
    Channel(_I.DESTROYED, ex.INSTANCE_DESTROYED),
    Channel(_I.FAILED, ex.INSTANCE_FAILED),
    Channel(_I.FROZEN, ex.INSTANCE_FROZEN),
    _rpc(ex.INSTANCE_GET, ex.INSTANCE_GET_ANSWER),
    _rpc(ex.INSTANCE_LEFT_OFF, ex.INSTANCE_LEFT_OFF_ANSWER),
    _rpc(ex.INSTANCE_LIST, ex.INSTANCE_LIST_ANSWER),
    _rpc(ex.INSTANCE_ENDPOINT, ex.INSTANCE_ENDPOINT_ANSWER),
    _rpc(ex.INSTANCE_RUNNING_PAGE, ex.INSTANCE_RUNNING_PAGE_ANSWER),
    _rpc(ex.INSTANCE_ACTIVITY, ex.INSTANCE_ACTIVITY_ANSWER),
    Channel(_A.USAGE, ex.ACTIVITY_USAGE),
    Channel(_A.UNHEALTHY, ex.ACTIVITY_UNHEALTHY),
    Channel(_A.RECOVERED, ex.ACTIVITY_RECOVERED),
    Channel(_A.IDLE_WARNING, ex.ACTIVITY_IDLE_WARNING),
    _rpc(ex.ACTIVITY_GET, ex.ACTIVITY_GET_ANSWER),
    Channel(_B.ACTIVATED, ex.BILLING_ACTIVATED),
    Channel(_B.UPDATED, ex.BILLING_UPDATED),
    Channel(_B.CANCELED, ex.BILLING_CANCELED),
    Channel(_B.PAST_DUE, ex.BILLING_PAST_DUE),
    _rpc(ex.BILLING_CHECKOUT, ex.BILLING_CHECKOUT_ANSWER),
    _rpc(ex.BILLING_PORTAL, ex.BILLING_PORTAL_ANSWER),
    _rpc(ex.BILLING_STATUS, ex.BILLING_STATUS_ANSWER),
    _rpc(ex.BILLING_PLANS, ex.BILLING_PLANS_ANSWER),
    Channel(SpendSubject.CLAUDE_SPEND, sx.SPEND_CLAUDE),
    Channel(SpendSubject.BUDGET_ALERT, sx.SPEND_BUDGET_ALERT),
    Channel(SpendSubject.BUDGET_REACHED, sx.SPEND_BUDGET_REACHED),
    Channel(SpendSubject.BUDGET_LIFTED, sx.SPEND_BUDGET_LIFTED),
    _rpc(sx.SPEND_USAGE, sx.SPEND_USAGE_ANSWER),
    _rpc(sx.SPEND_BUDGET_GET, sx.SPEND_BUDGET_GET_ANSWER),
    _rpc(sx.SPEND_BUDGET_SET, sx.SPEND_BUDGET_SET_ANSWER),
    _rpc(sx.SPEND_BUDGET_CLEAR, sx.SPEND_BUDGET_CLEAR_ANSWER),
    Channel(_N.PREPARED, ex.NETBIRD_PREPARED),
    Channel(_N.FINALIZED, ex.NETBIRD_FINALIZED),
    Channel(_N.FAILED, ex.NETBIRD_FAILED),
    Channel(_N.TORN_DOWN, ex.NETBIRD_TORN_DOWN),
    _rpc(ex.NETBIRD_DEVICE_KEY, ex.NETBIRD_DEVICE_KEY_ANSWER),
    Channel(AuditSubject.RECORDED, tx.AUDIT_RECORDED),
    _rpc(tx.AUDIT_LIST, tx.AUDIT_LIST_ANSWER),
    _rpc(tx.AUDIT_VERIFY, tx.AUDIT_VERIFY_ANSWER),
    Channel(WebhookSubject.ENDPOINT_DISABLED, tx.WEBHOOKS_ENDPOINT_DISABLED),
    _rpc(tx.WEBHOOKS_CREATE, tx.WEBHOOKS_CREATE_ANSWER),
    _rpc(tx.WEBHOOKS_LIST, tx.WEBHOOKS_LIST_ANSWER),
    _rpc(tx.WEBHOOKS_DELETE, tx.WEBHOOKS_DELETE_ANSWER),
    _rpc(tx.WEBHOOKS_TEST, tx.WEBHOOKS_TEST_ANSWER),
    _rpc(tx.WEBHOOKS_ROTATE, tx.WEBHOOKS_ROTATE_ANSWER),
    _rpc(tx.WEBHOOKS_DELIVERIES, tx.WEBHOOKS_DELIVERIES_ANSWER),
    *(
        _rpc(check_query(name), ex.OPS_CHECK_ANSWER.model_copy(update={"service": name}))
        for name in CHECKED_SERVICES
    ),
    _rpc(ex.OPS_INSTANCE_FACTS, ex.OPS_INSTANCE_FACTS_ANSWER),
)


def channel_for(subject: str) -> Channel | None:
    """The catalogue's entry for ``subject``, if it has one."""
    for channel in CATALOGUE:
        if str(channel.subject) == subject:
            return channel
    return None
