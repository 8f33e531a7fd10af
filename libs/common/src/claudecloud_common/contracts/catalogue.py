"""Every subject on the bus with an example of what it carries, and for ``rpc.*`` of the answer.

The example's class is the subject's message schema, so this one table is also the link from an
``rpc.*`` subject to its query and answer models, which the contracts otherwise leave to the
handlers. The gateway's ``/docs/asyncapi`` is built from it; a test fails when a subject some
service subscribes to, or a member of a subject enum, has no entry here, or when an example
does not match its schema. The examples are plain values: nothing in them is real.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel

from . import examples as ex
from .activity import ActivitySubject
from .billing import BillingSubject
from .instances import InstanceSubject
from .netbird import NetbirdSubject
from .ops import OpsSubject

__all__ = ["CATALOGUE", "SUBJECT_ENUMS", "Channel", "channel_for"]

SUBJECT_ENUMS: tuple[type[StrEnum], ...] = (
    InstanceSubject,
    ActivitySubject,
    BillingSubject,
    NetbirdSubject,
    OpsSubject,
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


_I, _A, _B, _N, _O = InstanceSubject, ActivitySubject, BillingSubject, NetbirdSubject, OpsSubject

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
    Channel(_I.GET, ex.INSTANCE_GET, ex.INSTANCE_GET_ANSWER),
    Channel(_I.LIST, ex.INSTANCE_LIST, ex.INSTANCE_LIST_ANSWER),
    Channel(_I.ENDPOINT, ex.INSTANCE_ENDPOINT, ex.INSTANCE_ENDPOINT_ANSWER),
    Channel(_I.RUNNING_PAGE, ex.INSTANCE_RUNNING_PAGE, ex.INSTANCE_RUNNING_PAGE_ANSWER),
    Channel(_I.ACTIVITY, ex.INSTANCE_ACTIVITY, ex.INSTANCE_ACTIVITY_ANSWER),
    Channel(_A.USAGE, ex.ACTIVITY_USAGE),
    Channel(_A.UNHEALTHY, ex.ACTIVITY_UNHEALTHY),
    Channel(_A.RECOVERED, ex.ACTIVITY_RECOVERED),
    Channel(_A.GET, ex.ACTIVITY_GET, ex.ACTIVITY_GET_ANSWER),
    Channel(_B.ACTIVATED, ex.BILLING_ACTIVATED),
    Channel(_B.UPDATED, ex.BILLING_UPDATED),
    Channel(_B.CANCELED, ex.BILLING_CANCELED),
    Channel(_B.PAST_DUE, ex.BILLING_PAST_DUE),
    Channel(_B.CHECKOUT, ex.BILLING_CHECKOUT, ex.BILLING_CHECKOUT_ANSWER),
    Channel(_B.PORTAL, ex.BILLING_PORTAL, ex.BILLING_PORTAL_ANSWER),
    Channel(_B.STATUS, ex.BILLING_STATUS, ex.BILLING_STATUS_ANSWER),
    Channel(_B.PLANS, ex.BILLING_PLANS, ex.BILLING_PLANS_ANSWER),
    Channel(_N.PREPARED, ex.NETBIRD_PREPARED),
    Channel(_N.FINALIZED, ex.NETBIRD_FINALIZED),
    Channel(_N.FAILED, ex.NETBIRD_FAILED),
    Channel(_N.TORN_DOWN, ex.NETBIRD_TORN_DOWN),
    Channel(_N.DEVICE_KEY, ex.NETBIRD_DEVICE_KEY, ex.NETBIRD_DEVICE_KEY_ANSWER),
    *(
        Channel(subject, ex.OPS_CHECK, ex.OPS_CHECK_ANSWER.model_copy(update={"service": name}))
        for subject, name in (
            (_O.CHECK_PROVISIONER, "provisioner"),
            (_O.CHECK_BILLING, "billing"),
            (_O.CHECK_ACTIVITY, "activity"),
            (_O.CHECK_NETBIRD, "netbird"),
        )
    ),
    Channel(_O.INSTANCE_FACTS, ex.OPS_INSTANCE_FACTS, ex.OPS_INSTANCE_FACTS_ANSWER),
)


def channel_for(subject: str) -> Channel | None:
    """The catalogue's entry for ``subject``, if it has one."""
    for channel in CATALOGUE:
        if str(channel.subject) == subject:
            return channel
    return None
