"""Every subject on the bus with an example of what it carries, and for ``rpc.*`` of the answer.

The example's class is the subject's message schema, so this one table is also the link from an
``rpc.*`` subject to its query and answer models, which the contracts otherwise leave to the
handlers. The gateway's ``/docs/asyncapi`` is built from it; a test fails when a subject some
service subscribes to, or a member of a subject enum, has no entry here, or when an example
does not match its schema. The examples are plain values: nothing in them is real.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, SecretStr

from .activity import (
    ActivitySubject,
    ActivityView,
    DecisionView,
    GetActivity,
    HealthCondition,
    InstanceRecovered,
    InstanceUnhealthy,
    UsageSample,
)
from .billing import (
    BillingStatus,
    BillingSubject,
    CheckoutSession,
    GetBillingStatus,
    ListPlans,
    MachineSize,
    OpenPortal,
    PlanList,
    PlanView,
    PortalSession,
    StartCheckout,
    SubscriptionActivated,
    SubscriptionCanceled,
    SubscriptionPastDue,
    SubscriptionStatus,
    SubscriptionUpdated,
)
from .instances import (
    CreateInstance,
    DestroyInstance,
    GetInstance,
    GetInstanceEndpoint,
    GetMachineActivity,
    InstanceAccepted,
    InstanceCreated,
    InstanceDestroyed,
    InstanceEndpoint,
    InstanceFailed,
    InstanceList,
    InstancePaused,
    InstanceRefusal,
    InstanceRejected,
    InstanceRequested,
    InstanceRunning,
    InstanceStatus,
    InstanceSubject,
    InstanceView,
    InstanceWoken,
    ListInstances,
    ListRunning,
    MachineActivity,
    MachineActivityList,
    PauseInstance,
    PauseReason,
    RunningInstance,
    RunningPage,
    WakeInstance,
)
from .netbird import (
    DeviceKey,
    GetDeviceKey,
    MeshFailed,
    MeshFinalized,
    MeshPrepared,
    MeshStep,
    MeshTornDown,
    NetbirdSubject,
)
from .ops import (
    CheckReport,
    DriftKind,
    Finding,
    GetInstanceFacts,
    InstanceFact,
    InstanceFacts,
    OpsSubject,
    OutboxBacklog,
    RunCheck,
)

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


# The same few ids throughout, so the examples read as one story.
_USER = UUID("6f1c2a3e-8b4d-4e5f-9a0b-1c2d3e4f5a6b")
_INSTANCE = UUID("0d9e8f7a-6b5c-4d3e-8f1a-2b3c4d5e6f70")
_COMMAND = UUID("3a2b1c0d-9e8f-4a7b-8c6d-5e4f3a2b1c0d")
_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
_SECRET = SecretStr("example-not-a-real-secret")


def _envelope(n: int) -> dict[str, Any]:
    """What every command and event carries besides its own fields."""
    return {
        "id": UUID(int=0x1000 + n),
        "occurred_at": _AT + timedelta(seconds=n),
        "correlation_id": "req-5b0e7c1d",
    }


def _instance(**changes: Any) -> dict[str, Any]:
    return {"instance_id": _INSTANCE, "user_id": _USER, "command_id": _COMMAND, **changes}


_VIEW = InstanceView(
    id=_INSTANCE,
    user_id=_USER,
    status=InstanceStatus.RUNNING,
    provider="docker",
    host="172.18.0.7:7681",
    created_at=_AT,
    updated_at=_AT + timedelta(seconds=9),
)
_MACHINE = MachineSize(cpus=2, memory_mb=4096, disk_gb=40)
_SUBSCRIPTION: dict[str, Any] = {
    "user_id": _USER,
    "subscription_id": "sub_1Qx7example",
    "plan": "standard",
    "status": SubscriptionStatus.ACTIVE,
    "entitled": True,
    "machine": _MACHINE,
    "current_period_end": _AT + timedelta(days=30),
}
_REPORT = CheckReport(
    service="provisioner",
    findings=[
        Finding(kind=DriftKind.ROW_WITHOUT_MACHINE, count=1, samples=[str(_INSTANCE)], fixable=True)
    ],
    outbox=OutboxBacklog(rows=0, stale=0),
    notes={"provider": "docker"},
)

_I, _A, _B, _N, _O = InstanceSubject, ActivitySubject, BillingSubject, NetbirdSubject, OpsSubject

CATALOGUE: tuple[Channel, ...] = (
    # Commands: the provisioner does them (the gateway and activity send them).
    Channel(_I.CREATE, CreateInstance(**_envelope(1), instance_id=_INSTANCE, user_id=_USER)),
    Channel(
        _I.PAUSE, PauseInstance(**_envelope(2), instance_id=_INSTANCE, reason=PauseReason.IDLE)
    ),
    Channel(_I.WAKE, WakeInstance(**_envelope(3), instance_id=_INSTANCE)),
    Channel(_I.DESTROY, DestroyInstance(**_envelope(4), instance_id=_INSTANCE, purge=False)),
    # Instance events: the provisioner announces them.
    Channel(
        _I.REQUESTED,
        InstanceRequested(
            **_envelope(5), **_instance(status=InstanceStatus.PROVISIONING), mesh=True
        ),
    ),
    Channel(
        _I.CREATED,
        InstanceCreated(
            **_envelope(6),
            **_instance(status=InstanceStatus.PROVISIONING),
            host="10.20.0.2",
            subnet="10.20.0.0/24",
        ),
    ),
    Channel(
        _I.ACCEPTED,
        InstanceAccepted(
            **_envelope(7), **_instance(status=InstanceStatus.PAUSING), command="instance.pause"
        ),
    ),
    Channel(
        _I.REJECTED,
        InstanceRejected(
            **_envelope(8),
            **_instance(status=InstanceStatus.RUNNING),
            command="instance.create",
            error=InstanceRefusal.ALREADY_EXISTS,
            detail="this user already has a live instance",
            existing_instance_id=_INSTANCE,
        ),
    ),
    Channel(
        _I.RUNNING,
        InstanceRunning(
            **_envelope(9), **_instance(status=InstanceStatus.RUNNING), host="172.18.0.7:7681"
        ),
    ),
    Channel(
        _I.PAUSED,
        InstancePaused(
            **_envelope(10), **_instance(status=InstanceStatus.PAUSED), reason=PauseReason.IDLE
        ),
    ),
    Channel(_I.WOKEN, InstanceWoken(**_envelope(11), **_instance(status=InstanceStatus.RUNNING))),
    Channel(
        _I.DESTROYED,
        InstanceDestroyed(**_envelope(12), **_instance(status=InstanceStatus.DESTROYED)),
    ),
    Channel(
        _I.FAILED,
        InstanceFailed(
            **_envelope(13),
            **_instance(status=InstanceStatus.FAILED),
            reason="the provider did not start the machine: image not found",
        ),
    ),
    # Queries the provisioner answers.
    Channel(_I.GET, GetInstance(instance_id=_INSTANCE), _VIEW),
    Channel(_I.LIST, ListInstances(user_id=_USER, live_only=True), InstanceList(items=[_VIEW])),
    Channel(
        _I.ENDPOINT,
        GetInstanceEndpoint(instance_id=_INSTANCE),
        InstanceEndpoint(
            instance_id=_INSTANCE,
            user_id=_USER,
            status=InstanceStatus.RUNNING,
            host="172.18.0.7:7681",
            agent_secret=_SECRET,
        ),
    ),
    Channel(
        _I.RUNNING_PAGE,
        ListRunning(after=None, limit=1000),
        RunningPage(items=[RunningInstance(id=_INSTANCE, user_id=_USER)]),
    ),
    Channel(
        _I.ACTIVITY,
        GetMachineActivity(instance_ids=[_INSTANCE]),
        MachineActivityList(
            items=[
                MachineActivity(
                    instance_id=_INSTANCE,
                    status=InstanceStatus.RUNNING,
                    running=True,
                    healthy=True,
                    processes=14,
                    cpu_seconds=321.5,
                    host="172.18.0.7:7681",
                    agent_secret=_SECRET,
                )
            ]
        ),
    ),
    # Activity: what it saw of running instances.
    Channel(
        _A.USAGE,
        UsageSample(
            **_envelope(14),
            user_id=_USER,
            instance_id=_INSTANCE,
            seconds=60.0,
            sample_id=UUID(int=0x2000),
        ),
    ),
    Channel(
        _A.UNHEALTHY,
        InstanceUnhealthy(
            **_envelope(15),
            user_id=_USER,
            instance_id=_INSTANCE,
            condition=HealthCondition.AGENT_UNREACHABLE,
            detail="the agent did not answer 3 polls in a row",
            failed_polls=3,
        ),
    ),
    Channel(
        _A.RECOVERED,
        InstanceRecovered(
            **_envelope(16),
            user_id=_USER,
            instance_id=_INSTANCE,
            condition=HealthCondition.AGENT_UNREACHABLE,
        ),
    ),
    Channel(
        _A.GET,
        GetActivity(instance_id=_INSTANCE, decisions=1),
        ActivityView(
            instance_id=_INSTANCE,
            user_id=_USER,
            status=InstanceStatus.RUNNING,
            deadline_at=_AT + timedelta(minutes=30),
            last_activity_at=_AT,
            last_activity_reason="terminal_input",
            decisions=[
                DecisionView(
                    decided_at=_AT,
                    decision="active",
                    reason="terminal_input",
                    detail="someone typed in the terminal",
                    deadline_at=_AT + timedelta(minutes=30),
                )
            ],
        ),
    ),
    # Billing: subscriptions as Stripe reports them, and the dashboard's queries.
    Channel(_B.ACTIVATED, SubscriptionActivated(**_envelope(17), **_SUBSCRIPTION)),
    Channel(_B.UPDATED, SubscriptionUpdated(**_envelope(18), **_SUBSCRIPTION)),
    Channel(
        _B.CANCELED,
        SubscriptionCanceled(
            **_envelope(19),
            **(_SUBSCRIPTION | {"status": SubscriptionStatus.CANCELED, "entitled": False}),
        ),
    ),
    Channel(
        _B.PAST_DUE,
        SubscriptionPastDue(
            **_envelope(20),
            **(_SUBSCRIPTION | {"status": SubscriptionStatus.PAST_DUE}),
            grace_until=_AT + timedelta(days=3),
        ),
    ),
    Channel(
        _B.CHECKOUT,
        StartCheckout(
            user_id=_USER,
            email="ada@example.com",
            plan="standard",
            success_url="https://claudecloud.example/billing?done=1",
            cancel_url="https://claudecloud.example/billing",
            request_id=UUID(int=0x3000),
        ),
        CheckoutSession(
            session_id="cs_test_example", url="https://checkout.stripe.com/c/pay/cs_test_example"
        ),
    ),
    Channel(
        _B.PORTAL,
        OpenPortal(
            user_id=_USER,
            return_url="https://claudecloud.example/billing",
            request_id=UUID(int=0x3001),
        ),
        PortalSession(url="https://billing.stripe.com/p/session/test_example"),
    ),
    Channel(
        _B.STATUS,
        GetBillingStatus(user_id=_USER),
        BillingStatus(
            enabled=True,
            entitled=True,
            plan="standard",
            status=SubscriptionStatus.ACTIVE,
            hours_used=12.5,
            hours_included=100.0,
        ),
    ),
    Channel(
        _B.PLANS,
        ListPlans(),
        PlanList(
            items=[
                PlanView(
                    name="standard",
                    title="Standard",
                    price="$20 / month",
                    included_hours=100.0,
                    machine=_MACHINE,
                )
            ]
        ),
    ),
    # Netbird: the mesh saga's steps, and device keys.
    Channel(
        _N.PREPARED,
        MeshPrepared(
            **_envelope(21),
            instance_id=_INSTANCE,
            user_id=_USER,
            group_id="grp-example",
            setup_key=_SECRET,
        ),
    ),
    Channel(
        _N.FINALIZED,
        MeshFinalized(
            **_envelope(22),
            instance_id=_INSTANCE,
            user_id=_USER,
            group_id="grp-example",
            route_id="rt-example",
            policy_id="pol-example",
        ),
    ),
    Channel(
        _N.FAILED,
        MeshFailed(
            **_envelope(23),
            instance_id=_INSTANCE,
            user_id=_USER,
            step=MeshStep.PREPARE,
            reason="Netbird answered 503",
        ),
    ),
    Channel(_N.TORN_DOWN, MeshTornDown(**_envelope(24), instance_id=_INSTANCE, user_id=_USER)),
    Channel(
        _N.DEVICE_KEY,
        GetDeviceKey(instance_id=_INSTANCE, user_id=_USER),
        DeviceKey(setup_key=_SECRET, expires_at=_AT + timedelta(hours=1)),
    ),
    # Operations: the reconciliation check (claude-cloud-admin check).
    *(
        Channel(subject, RunCheck(fix=False), _REPORT.model_copy(update={"service": service}))
        for subject, service in (
            (_O.CHECK_PROVISIONER, "provisioner"),
            (_O.CHECK_BILLING, "billing"),
            (_O.CHECK_ACTIVITY, "activity"),
            (_O.CHECK_NETBIRD, "netbird"),
        )
    ),
    Channel(
        _O.INSTANCE_FACTS,
        GetInstanceFacts(instance_ids=[_INSTANCE]),
        InstanceFacts(
            items=[
                InstanceFact(
                    instance_id=_INSTANCE,
                    user_id=_USER,
                    status=InstanceStatus.RUNNING,
                    provider="docker",
                )
            ]
        ),
    ),
)


def channel_for(subject: str) -> Channel | None:
    """The catalogue's entry for ``subject``, if it has one."""
    for channel in CATALOGUE:
        if str(channel.subject) == subject:
            return channel
    return None
