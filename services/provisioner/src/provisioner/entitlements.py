"""Billing, as the provisioner sees it: its own copy of each user's entitlement.

Billing announces every subscription change (``evt.billing.subscription.*``) with its verdict
(``entitled``) and the plan's machine. The provisioner keeps the newest per user, and acts on it
through its own commands, written to its outbox in the same transaction:

- activated and entitled, with no live instance → ``cmd.instance.create`` (ids derived from the
  event, so a redelivered event asks for the same instance);
- not entitled (canceled, or past due beyond the grace period) with a running instance →
  ``cmd.instance.pause`` with reason ``billing`` (one being created or woken is paused as it comes
  up: :meth:`InstanceService.complete`);
- entitled again (a new checkout, or a late payment) with an instance billing paused →
  ``cmd.instance.wake``; one the user or idleness paused stays paused.

Admission reads the same row: with billing on, create and wake need an entitlement (the one rule
in :meth:`InstanceService.begin`), and the plan sizes the machine.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from faststream.nats import NatsBroker

from claudecloud_common.bus import event_subscriber
from claudecloud_common.contracts.audit import Actor, ActorKind, AuditKind, AuditRecorded
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.billing import (
    AnySubscriptionEvent,
    BillingSubject,
    SubscriptionActivated,
    SubscriptionEvent,
)
from claudecloud_common.contracts.instances import (
    CreateInstance,
    InstanceCommand,
    InstanceStatus,
    PauseInstance,
    PauseReason,
    WakeInstance,
)
from claudecloud_common.db import AsyncSession, Database
from claudecloud_common.inbox import already_processed, mark_processed
from claudecloud_common.logging import bind_correlation, get_logger
from claudecloud_common.outbox import add_to_outbox

from .models import Entitlement
from .repository import EntitlementRepository, InstanceRepository
from .settings import ProvisionerSettings

log = get_logger(__name__)

CONSUMER = "provisioner.billing.subscription"
_IDS = uuid5(NAMESPACE_URL, "https://claudecloud/provisioner/billing")


def derived_id(event_id: UUID, what: str) -> UUID:
    """An id fixed by the event that caused it: redelivery asks for the same thing again."""
    return uuid5(_IDS, f"{event_id}:{what}")


class EntitlementService:
    """Keeps the entitlement of each user and starts or pauses their instance by it."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.entitlements = EntitlementRepository(session)
        self.instances = InstanceRepository(session)

    async def apply(self, event: SubscriptionEvent) -> None:
        if await already_processed(self.session, event.id, CONSUMER):
            return
        mark_processed(self.session, event.id, CONSUMER)
        row = await self.entitlements.get(event.user_id, for_update=True)
        if row is not None and row.as_of > event.occurred_at:
            log.info("billing.entitlement_stale", user_id=str(event.user_id), kind=event.type)
            return
        self.session.add(self._updated(row, event))
        live = await self.instances.live_for_user(event.user_id)
        if isinstance(event, SubscriptionActivated) and event.entitled and live is None:
            self._create(event)
        elif not event.entitled and live is not None and live.status is InstanceStatus.RUNNING:
            self._pause(event, live.id)
        elif (
            event.entitled
            and live is not None
            and live.status is InstanceStatus.PAUSED
            and live.pause_reason is PauseReason.BILLING
        ):
            self._wake(event, live.id)

    @staticmethod
    def _updated(row: Entitlement | None, event: SubscriptionEvent) -> Entitlement:
        values: dict[str, Any] = {
            "subscription_id": event.subscription_id,
            "plan": event.plan,
            "status": event.status.value,
            "entitled": event.entitled,
            "cpus": event.machine.cpus,
            "memory_mb": event.machine.memory_mb,
            "disk_gb": event.machine.disk_gb,
            "as_of": event.occurred_at,
            "updated_at": utcnow(),
        }
        if row is None:
            return Entitlement(user_id=event.user_id, **values)
        for name, value in values.items():
            setattr(row, name, value)
        return row

    def _create(self, event: SubscriptionEvent) -> None:
        command = CreateInstance(
            id=derived_id(event.id, "create"),
            instance_id=derived_id(event.id, "instance"),
            user_id=event.user_id,
            correlation_id=event.correlation_id,
        )
        add_to_outbox(self.session, command)
        add_to_outbox(self.session, audited(event, command, "create"))
        log.info("billing.instance_requested", user_id=str(event.user_id), plan=event.plan)

    def _pause(self, event: SubscriptionEvent, instance_id: UUID) -> None:
        command = PauseInstance(
            id=derived_id(event.id, "pause"),
            instance_id=instance_id,
            reason=PauseReason.BILLING,
            correlation_id=event.correlation_id,
        )
        add_to_outbox(self.session, command)
        add_to_outbox(self.session, audited(event, command, "pause"))
        log.info("billing.instance_paused", user_id=str(event.user_id), status=event.status)

    def _wake(self, event: SubscriptionEvent, instance_id: UUID) -> None:
        command = WakeInstance(
            id=derived_id(event.id, "wake"),
            instance_id=instance_id,
            correlation_id=event.correlation_id,
        )
        add_to_outbox(self.session, command)
        add_to_outbox(self.session, audited(event, command, "wake"))
        log.info("billing.instance_woken", user_id=str(event.user_id), plan=event.plan)


def audited(event: SubscriptionEvent, command: InstanceCommand, action: str) -> AuditRecorded:
    """The audit record of a command billing's verdict caused: the user's chain, billing as
    the actor (one record however often the event is delivered)."""
    return AuditRecorded(
        id=derived_id(event.id, f"audit.{action}"),
        user_id=event.user_id,
        kind=AuditKind.INSTANCE_COMMAND,
        actor=Actor(kind=ActorKind.BILLING, id="billing"),
        instance_id=command.instance_id,
        correlation_id=event.correlation_id,
        detail={
            "command": action,
            "subscription": event.status.value,
            "command_id": str(command.id),
        },
    )


def register_billing(broker: NatsBroker, db: Database, settings: ProvisionerSettings) -> None:
    """Follow billing's subscription events (only when billing is on)."""
    if not settings.billing_enabled:
        return

    @event_subscriber(broker, BillingSubject.ALL_SUBSCRIPTION_EVENTS, settings=settings)
    async def on_subscription(event: AnySubscriptionEvent) -> None:
        """A user's subscription changed: keep billing's verdict; create or pause by it."""
        with bind_correlation(event.correlation_id, user_id=str(event.user_id)):
            async with db.transaction() as session:
                await EntitlementService(session).apply(event)
