"""Examples of the audit and webhook messages (and answers), for the catalogue: the same ids as
:mod:`.examples`, so they read as part of the same story."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from .audit import (
    Actor,
    ActorKind,
    AuditKind,
    AuditOutcome,
    AuditPage,
    AuditRecorded,
    AuditRecordView,
    AuditVerification,
    ChainProblem,
    ChainReport,
    ListAudit,
    Origin,
    VerifyAudit,
)
from .examples import _AT, _INSTANCE, _SECRET, _USER, _envelope
from .webhooks import (
    CreateEndpoint,
    DeleteEndpoint,
    DeliveryList,
    DeliveryStatus,
    DeliveryView,
    EndpointCreated,
    EndpointDeleted,
    EndpointDisabled,
    EndpointList,
    EndpointStatus,
    EndpointView,
    ListDeliveries,
    ListEndpoints,
    RotateSecret,
    SendTest,
    TestSent,
)

_ACTOR = Actor(kind=ActorKind.USER, id=str(_USER))
_ORIGIN = Origin(address="203.0.113.7", user_agent="Mozilla/5.0 (X11; Linux x86_64)")

AUDIT_RECORDED = AuditRecorded(
    **_envelope(30),
    user_id=_USER,
    kind=AuditKind.FILE_READ,
    actor=_ACTOR,
    origin=_ORIGIN,
    instance_id=_INSTANCE,
    detail={"path": "projects/app/README.md", "status": 200},
)

AUDIT_LIST = ListAudit(user_id=_USER, kinds=[AuditKind.FILE_READ], limit=1)

AUDIT_LIST_ANSWER = AuditPage(
    items=[
        AuditRecordView(
            position=41,
            user_id=_USER,
            seq=7,
            event_id=UUID(int=0x1000 + 30),
            kind=AuditKind.FILE_READ,
            occurred_at=_AT + timedelta(seconds=30),
            recorded_at=_AT + timedelta(seconds=30, milliseconds=4),
            actor=_ACTOR,
            origin=_ORIGIN,
            instance_id=_INSTANCE,
            outcome=AuditOutcome.OK,
            detail={"path": "projects/app/README.md", "status": 200},
            prev_hash="9f" * 32,
            hash="4c" * 32,
        )
    ],
    next_before=41,
)

AUDIT_VERIFY = VerifyAudit(user_id=_USER)

AUDIT_VERIFY_ANSWER = AuditVerification(
    chains=1,
    records=7,
    broken=1,
    reports=[
        ChainReport(
            user_id=_USER,
            records=7,
            first_seq=1,
            last_seq=7,
            problems=[
                ChainProblem(
                    seq=4,
                    event_id=UUID(int=0x1000 + 27),
                    problem="edited",
                    detail="record 4 (file.read) does not match its hash",
                )
            ],
        )
    ],
)

_ENDPOINT_ID = UUID("7e6d5c4b-3a29-4818-a7f6-e5d4c3b2a190")
_ENDPOINT = EndpointView(
    id=_ENDPOINT_ID,
    url="https://hooks.example.com/claudecloud",
    events=["instance.running", "instance.failed"],
    status=EndpointStatus.ACTIVE,
    created_at=_AT,
)

WEBHOOKS_CREATE = CreateEndpoint(
    user_id=_USER, url=_ENDPOINT.url, events=["instance.running", "instance.failed"]
)

WEBHOOKS_CREATE_ANSWER = EndpointCreated(**_ENDPOINT.model_dump(), secret=_SECRET)

WEBHOOKS_LIST = ListEndpoints(user_id=_USER)

WEBHOOKS_LIST_ANSWER = EndpointList(items=[_ENDPOINT])

WEBHOOKS_DELETE = DeleteEndpoint(user_id=_USER, endpoint_id=_ENDPOINT_ID)

WEBHOOKS_DELETE_ANSWER = EndpointDeleted(id=_ENDPOINT_ID)

WEBHOOKS_TEST = SendTest(user_id=_USER, endpoint_id=_ENDPOINT_ID)

WEBHOOKS_TEST_ANSWER = TestSent(event_id=UUID(int=0x5000), delivery_id=UUID(int=0x5001))

WEBHOOKS_ROTATE = RotateSecret(user_id=_USER, endpoint_id=_ENDPOINT_ID)

WEBHOOKS_ROTATE_ANSWER = EndpointCreated(
    **_ENDPOINT.model_copy(
        update={"previous_secret_expires_at": _AT + timedelta(days=1)}
    ).model_dump(),
    secret=_SECRET,
)

WEBHOOKS_DELIVERIES = ListDeliveries(user_id=_USER, endpoint_id=_ENDPOINT_ID, limit=1)

WEBHOOKS_DELIVERIES_ANSWER = DeliveryList(
    items=[
        DeliveryView(
            id=UUID(int=0x5002),
            event_id=UUID(int=0x1000 + 9),
            event_type="instance.running",
            status=DeliveryStatus.PENDING,
            attempts=2,
            created_at=_AT,
            next_attempt_at=_AT + timedelta(minutes=1),
            last_attempt_at=_AT + timedelta(seconds=30),
            last_status_code=500,
            last_error="the endpoint answered 500",
        )
    ]
)

WEBHOOKS_ENDPOINT_DISABLED = EndpointDisabled(
    **_envelope(31),
    endpoint_id=_ENDPOINT_ID,
    user_id=_USER,
    url=_ENDPOINT.url,
    reason="every try failed for 24 h (last: the endpoint answered 500)",
)
