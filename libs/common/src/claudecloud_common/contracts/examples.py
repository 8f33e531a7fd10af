"""An example of every message on the bus (and of every rpc answer), for the catalogue.

Plain values, nothing real in them; the same few ids throughout, so the examples read as one
story. Each is a model instance, so it is valid by construction (and mypy checks its fields).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import SecretStr

from claudecloud_agentapi.checkpoint import Checkpoint, RepoCheckpoint, RepoOutcome

from .activity import (
    ActivityView,
    DecisionView,
    GetActivity,
    HealthCondition,
    InstanceIdleWarning,
    InstanceRecovered,
    InstanceUnhealthy,
    UsageSample,
)
from .billing import (
    BillingStatus,
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
    FailureCode,
    GetInstance,
    GetInstanceEndpoint,
    GetLeftOff,
    GetMachineActivity,
    HostMemory,
    InstanceAccepted,
    InstanceCreated,
    InstanceDestroyed,
    InstanceEndpoint,
    InstanceFailed,
    InstanceFrozen,
    InstanceList,
    InstancePaused,
    InstanceRefusal,
    InstanceRejected,
    InstanceRequested,
    InstanceRunning,
    InstanceStatus,
    InstanceView,
    InstanceWoken,
    LeftOff,
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
)
from .ops import (
    CheckReport,
    DriftKind,
    Finding,
    GetInstanceFacts,
    InstanceFact,
    InstanceFacts,
    OutboxBacklog,
)
from .providers import ProviderKind

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

INSTANCE_CREATE = CreateInstance(**_envelope(1), instance_id=_INSTANCE, user_id=_USER)

INSTANCE_PAUSE = PauseInstance(**_envelope(2), instance_id=_INSTANCE, reason=PauseReason.IDLE)

INSTANCE_WAKE = WakeInstance(**_envelope(3), instance_id=_INSTANCE)

INSTANCE_DESTROY = DestroyInstance(**_envelope(4), instance_id=_INSTANCE, purge=False)

INSTANCE_REQUESTED = InstanceRequested(
    **_envelope(5), **_instance(status=InstanceStatus.PROVISIONING), mesh=True
)

INSTANCE_CREATED = InstanceCreated(
    **_envelope(6),
    **_instance(status=InstanceStatus.PROVISIONING),
    host="10.20.0.2",
    subnet="10.20.0.0/24",
)

INSTANCE_ACCEPTED = InstanceAccepted(
    **_envelope(7), **_instance(status=InstanceStatus.PAUSING), command="instance.pause"
)

INSTANCE_REJECTED = InstanceRejected(
    **_envelope(8),
    **_instance(status=InstanceStatus.RUNNING),
    command="instance.create",
    error=InstanceRefusal.ALREADY_EXISTS,
    detail="this user already has a live instance",
    existing_instance_id=_INSTANCE,
)

INSTANCE_RUNNING = InstanceRunning(
    **_envelope(9), **_instance(status=InstanceStatus.RUNNING), host="172.18.0.7:7681"
)

INSTANCE_PAUSED = InstancePaused(
    **_envelope(10), **_instance(status=InstanceStatus.PAUSED), reason=PauseReason.IDLE
)

INSTANCE_WOKEN = InstanceWoken(**_envelope(11), **_instance(status=InstanceStatus.RUNNING))

INSTANCE_DESTROYED = InstanceDestroyed(
    **_envelope(12), **_instance(status=InstanceStatus.DESTROYED)
)

INSTANCE_FAILED = InstanceFailed(
    **_envelope(13),
    **_instance(status=InstanceStatus.FAILED),
    reason="the provider did not start the machine: image not found",
    code=FailureCode.PROVIDER_ERROR,
)

INSTANCE_FROZEN = InstanceFrozen(
    **_envelope(40), **_instance(status=InstanceStatus.FROZEN), reason=PauseReason.IDLE
)

INSTANCE_GET = GetInstance(instance_id=_INSTANCE)

INSTANCE_GET_ANSWER = _VIEW

INSTANCE_LEFT_OFF = GetLeftOff(instance_id=_INSTANCE)

INSTANCE_LEFT_OFF_ANSWER = LeftOff(
    instance_id=_INSTANCE,
    status=InstanceStatus.PAUSED,
    pause_reason=PauseReason.IDLE,
    paused_at=_AT + timedelta(hours=2),
    checkpoint=Checkpoint(
        taken_at=_AT + timedelta(hours=2),
        reason="idle",
        seconds=0.4,
        repositories=[
            RepoCheckpoint(
                path="projects/api",
                outcome=RepoOutcome.SAVED,
                branch="main",
                head="3f2a9c1d0e4b5a6978812233445566778899aabb",
                ref="claudecloud/wip/20261130T140000Z",
                commit="9b8a7c6d5e4f30211203948576abcdef01234567",
                files_changed=3,
            )
        ],
        scrollback={"claude": 412, "shell": 87},
        last_prompt="make the tests pass",
    ),
)

INSTANCE_LIST = ListInstances(user_id=_USER, live_only=True)

INSTANCE_LIST_ANSWER = InstanceList(items=[_VIEW])

INSTANCE_ENDPOINT = GetInstanceEndpoint(instance_id=_INSTANCE)

INSTANCE_ENDPOINT_ANSWER = InstanceEndpoint(
    instance_id=_INSTANCE,
    user_id=_USER,
    status=InstanceStatus.RUNNING,
    host="172.18.0.7:7681",
    agent_secret=_SECRET,
)

INSTANCE_RUNNING_PAGE = ListRunning(after=None, limit=1000)

INSTANCE_RUNNING_PAGE_ANSWER = RunningPage(items=[RunningInstance(id=_INSTANCE, user_id=_USER)])

INSTANCE_ACTIVITY = GetMachineActivity(instance_ids=[_INSTANCE])

INSTANCE_ACTIVITY_ANSWER = MachineActivityList(
    items=[
        MachineActivity(
            instance_id=_INSTANCE,
            status=InstanceStatus.RUNNING,
            running=True,
            healthy=True,
            processes=14,
            cpu_seconds=321.5,
            memory_bytes=734_003_200,
            host="172.18.0.7:7681",
            agent_secret=_SECRET,
        )
    ],
    host_memory=HostMemory(total_bytes=16 << 30, available_bytes=9 << 30),
    provider=ProviderKind.DOCKER,
)

ACTIVITY_USAGE = UsageSample(
    **_envelope(14),
    user_id=_USER,
    instance_id=_INSTANCE,
    seconds=60.0,
    sample_id=UUID(int=0x2000),
)

ACTIVITY_UNHEALTHY = InstanceUnhealthy(
    **_envelope(15),
    user_id=_USER,
    instance_id=_INSTANCE,
    condition=HealthCondition.AGENT_UNREACHABLE,
    detail="the agent did not answer 3 polls in a row",
    failed_polls=3,
)

ACTIVITY_RECOVERED = InstanceRecovered(
    **_envelope(16),
    user_id=_USER,
    instance_id=_INSTANCE,
    condition=HealthCondition.AGENT_UNREACHABLE,
)

ACTIVITY_IDLE_WARNING = InstanceIdleWarning(
    **_envelope(17),
    user_id=_USER,
    instance_id=_INSTANCE,
    deadline_at=_AT + timedelta(minutes=10),
    action="freeze",
)

ACTIVITY_GET = GetActivity(instance_id=_INSTANCE, decisions=1)

ACTIVITY_GET_ANSWER = ActivityView(
    instance_id=_INSTANCE,
    user_id=_USER,
    status=InstanceStatus.RUNNING,
    deadline_at=_AT + timedelta(minutes=10),
    deadline_action="freeze",
    last_activity_at=_AT,
    last_activity_reason="terminal_input",
    decisions=[
        DecisionView(
            decided_at=_AT,
            decision="active",
            reason="terminal_input",
            detail="someone typed in the terminal; freezes when idle after 2026-03-02 09:40:00 UTC",
            deadline_at=_AT + timedelta(minutes=10),
        )
    ],
)

BILLING_ACTIVATED = SubscriptionActivated(**_envelope(17), **_SUBSCRIPTION)

BILLING_UPDATED = SubscriptionUpdated(**_envelope(18), **_SUBSCRIPTION)

BILLING_CANCELED = SubscriptionCanceled(
    **_envelope(19),
    **(_SUBSCRIPTION | {"status": SubscriptionStatus.CANCELED, "entitled": False}),
)

BILLING_PAST_DUE = SubscriptionPastDue(
    **_envelope(20),
    **(_SUBSCRIPTION | {"status": SubscriptionStatus.PAST_DUE}),
    grace_until=_AT + timedelta(days=3),
)

BILLING_CHECKOUT = StartCheckout(
    user_id=_USER,
    email="ada@example.com",
    plan="standard",
    success_url="https://claudecloud.example/billing?done=1",
    cancel_url="https://claudecloud.example/billing",
    request_id=UUID(int=0x3000),
)

BILLING_CHECKOUT_ANSWER = CheckoutSession(
    session_id="cs_test_example", url="https://checkout.stripe.com/c/pay/cs_test_example"
)

BILLING_PORTAL = OpenPortal(
    user_id=_USER,
    return_url="https://claudecloud.example/billing",
    request_id=UUID(int=0x3001),
)

BILLING_PORTAL_ANSWER = PortalSession(url="https://billing.stripe.com/p/session/test_example")

BILLING_STATUS = GetBillingStatus(user_id=_USER)

BILLING_STATUS_ANSWER = BillingStatus(
    enabled=True,
    entitled=True,
    plan="standard",
    status=SubscriptionStatus.ACTIVE,
    hours_used=12.5,
    hours_included=100.0,
    running_hours=10.0,
    frozen_hours=10.0,
    frozen_hour_weight=0.25,
)

BILLING_PLANS = ListPlans()

BILLING_PLANS_ANSWER = PlanList(
    items=[
        PlanView(
            name="standard",
            title="Standard",
            price="$20 / month",
            included_hours=100.0,
            machine=_MACHINE,
        )
    ]
)

NETBIRD_PREPARED = MeshPrepared(
    **_envelope(21),
    instance_id=_INSTANCE,
    user_id=_USER,
    group_id="grp-example",
    setup_key=_SECRET,
)

NETBIRD_FINALIZED = MeshFinalized(
    **_envelope(22),
    instance_id=_INSTANCE,
    user_id=_USER,
    group_id="grp-example",
    route_id="rt-example",
    policy_id="pol-example",
)

NETBIRD_FAILED = MeshFailed(
    **_envelope(23),
    instance_id=_INSTANCE,
    user_id=_USER,
    step=MeshStep.PREPARE,
    reason="Netbird answered 503",
)

NETBIRD_TORN_DOWN = MeshTornDown(**_envelope(24), instance_id=_INSTANCE, user_id=_USER)

NETBIRD_DEVICE_KEY = GetDeviceKey(instance_id=_INSTANCE, user_id=_USER)

NETBIRD_DEVICE_KEY_ANSWER = DeviceKey(setup_key=_SECRET, expires_at=_AT + timedelta(hours=1))

OPS_CHECK_ANSWER = _REPORT

OPS_INSTANCE_FACTS = GetInstanceFacts(instance_ids=[_INSTANCE])

OPS_INSTANCE_FACTS_ANSWER = InstanceFacts(
    items=[
        InstanceFact(
            instance_id=_INSTANCE,
            user_id=_USER,
            status=InstanceStatus.RUNNING,
            provider="docker",
        )
    ]
)
