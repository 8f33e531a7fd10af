"""The instance lifecycle rules. Never commits: the handler that calls it owns the transaction.

A command runs in three steps, each its own transaction around the provider call in between:
``begin`` admits it (or rejects it with a reason) and enters the transitional state;
``complete`` or ``fail`` records the outcome. Each step writes its event to the outbox and the
last one marks the command processed in the inbox, so a redelivered command resumes or is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from pydantic import SecretStr

from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.instances import (
    CreateInstance,
    InstanceAccepted,
    InstanceCommand,
    InstanceEndpoint,
    InstanceEvent,
    InstanceFailed,
    InstancePaused,
    InstanceRefusal,
    InstanceRejected,
    InstanceRequested,
    InstanceStatus,
    InstanceView,
    PauseInstance,
    PauseReason,
    RunningInstance,
    WakeInstance,
)
from claudecloud_common.db import AsyncSession
from claudecloud_common.errors import AppError, ConflictError
from claudecloud_common.inbox import already_processed, mark_processed
from claudecloud_common.logging import get_logger
from claudecloud_common.outbox import add_to_outbox

from .errors import IllegalTransition, InstanceAlreadyExists, InstanceNotFound, PaymentRequired
from .mesh import uses_mesh
from .models import Entitlement, Instance
from .providers import Machine, MachineRef
from .repository import EntitlementRepository, InstanceRepository
from .rules import RULES, why_not

log = get_logger(__name__)

S = InstanceStatus
_UNPAID_PAUSES = uuid5(NAMESPACE_URL, "https://claudecloud/provisioner/unpaid-pause")
"""Ids of the pauses that follow a command completing unpaid: a redelivery asks for the same."""


@dataclass(frozen=True)
class Work:
    """An admitted command: what the handler must ask the provider to do."""

    command: InstanceCommand
    ref: MachineRef
    resumed: bool = False
    """A redelivery of a command admitted before: its provider call may have been made."""


class InstanceService:
    def __init__(self, session: AsyncSession, provider_name: str, *, billing: bool = False) -> None:
        self.session = session
        self.repo = InstanceRepository(session)
        self.provider_name = provider_name
        self.billing = billing
        """Create and wake need an entitled subscription, and its plan sizes the machine."""

    # Queries

    async def get(self, instance_id: UUID) -> InstanceView:
        instance = await self.repo.get(instance_id)
        if instance is None:
            raise InstanceNotFound(f"no instance with id {instance_id}")
        return instance.view()

    async def endpoint(self, instance_id: UUID) -> InstanceEndpoint:
        """The agent's address and secret; both only while the instance runs."""
        instance = await self.repo.get(instance_id)
        if instance is None:
            raise InstanceNotFound(f"no instance with id {instance_id}")
        running = instance.status is S.RUNNING
        return InstanceEndpoint(
            instance_id=instance.id,
            user_id=instance.user_id,
            status=instance.status,
            host=instance.host if running else None,
            agent_secret=SecretStr(instance.agent_secret)
            if running and instance.agent_secret
            else None,
        )

    async def endpoints(self, ids: list[UUID]) -> list[tuple[InstanceEndpoint, MachineRef]]:
        """Many instances' endpoints (as :meth:`endpoint`), each with its machine's reference."""
        found = []
        for instance in await self.repo.many(ids):
            running = instance.status is S.RUNNING
            secret = instance.agent_secret if running else None
            endpoint = InstanceEndpoint(
                instance_id=instance.id,
                user_id=instance.user_id,
                status=instance.status,
                host=instance.host if running else None,
                agent_secret=SecretStr(secret) if secret else None,
            )
            found.append((endpoint, _ref(instance)))
        return found

    async def running_page(self, after: UUID | None, limit: int) -> list[RunningInstance]:
        found = await self.repo.running_page(after, limit)
        return [RunningInstance(id=i, user_id=u) for i, u in found]

    async def list_instances(self, *, user_id: UUID | None, live_only: bool) -> list[InstanceView]:
        return [i.view() for i in await self.repo.list(user_id=user_id, live_only=live_only)]

    # Commands

    async def begin(self, command: InstanceCommand) -> Work | None:
        """Admit ``command`` and enter its transitional state; None when there is nothing to do."""
        size, unpaid = await self._entitlement(command)
        if (
            isinstance(command, CreateInstance)
            and unpaid is None
            and await self._admit_new(command)
        ):
            return Work(command, MachineRef(command.instance_id, command.user_id, **size))
        if await already_processed(self.session, command.id, self._consumer(command)):
            return None
        instance = await self.repo.get(command.instance_id, for_update=True)
        if instance is not None and instance.pending_command_id == command.id:
            # A redelivery: resume the interrupted work.
            log.info(
                "instance.command_resumed", instance_id=str(instance.id), status=instance.status
            )
            return Work(command, _ref(instance, size), resumed=True)
        try:
            if unpaid is not None:
                raise unpaid
            if isinstance(command, CreateInstance):
                await self._refuse_create(command, instance)
                instance = None  # it was created by this very command before: nothing to do
            else:
                instance = self._admit_transition(command, instance)
        except (ConflictError, PaymentRequired) as refusal:
            self._reject(command, instance, refusal)
            return None
        if instance is None:
            mark_processed(self.session, command.id, self._consumer(command))
            return None
        return Work(command, _ref(instance, size))

    async def complete(self, command: InstanceCommand, machine: Machine | None) -> None:
        rule = RULES[type(command)]
        values: dict[str, object] = {
            "status": rule.to,
            "reason": None,
            "pause_reason": command.reason if isinstance(command, PauseInstance) else None,
            "pending_command_id": None,
            "updated_at": utcnow(),
        }
        if rule.to is not S.RUNNING:
            values["host"] = None  # a stopped or removed machine has no address to reach
            values["condition"] = None
        if machine is not None:
            values |= {"provider_id": machine.provider_id, "host": machine.host}
            if machine.agent_secret is not None:
                values["agent_secret"] = machine.agent_secret.get_secret_value()
        instance = await self.repo.update_if_pending(command.instance_id, command.id, **values)
        mark_processed(self.session, command.id, self._consumer(command))
        if instance is None:
            return  # already completed: a redelivery
        common = {
            "instance_id": instance.id,
            "user_id": instance.user_id,
            "status": instance.status,
            "command_id": command.id,
            "correlation_id": command.correlation_id,
        }
        self._emit(rule.outcome(command, common, instance.host))
        log.info(f"instance.{rule.to.value}", instance_id=str(instance.id))
        if rule.to is S.RUNNING and self.billing:
            await self._pause_if_unpaid(instance, command)

    async def fail(self, command: InstanceCommand, reason: str) -> None:
        instance = await self._pending(command)
        if instance is None:
            return
        self._set_status(instance, S.FAILED, reason=reason)
        self._emit(
            InstanceFailed(
                instance_id=instance.id,
                user_id=instance.user_id,
                status=S.FAILED,
                reason=reason,
                command_id=command.id,
                correlation_id=command.correlation_id,
            )
        )
        mark_processed(self.session, command.id, self._consumer(command))
        log.warning("instance.failed", instance_id=str(instance.id), reason=reason)

    async def fail_stuck(self, older_than: timedelta) -> list[UUID]:
        """Mark instances stuck in a transitional state as failed; an instance never hangs."""
        failed = []
        for instance in await self.repo.stuck(utcnow() - older_than):
            reason = f"timed out while {instance.status.value}"
            self._set_status(instance, S.FAILED, reason=reason)
            self._emit(
                InstanceFailed(
                    instance_id=instance.id,
                    user_id=instance.user_id,
                    status=S.FAILED,
                    reason=reason,
                )
            )
            failed.append(instance.id)
        return failed

    async def note_condition(
        self, instance_id: UUID, condition: str | None, seen_at: datetime
    ) -> bool:
        """What the activity service found wrong with a running instance (None: recovered),
        unless it is older than what the row already knows; False when nothing changed."""
        instance = await self.repo.get(instance_id, for_update=True)
        if instance is None or instance.status is not S.RUNNING:
            return False
        if instance.condition_at is not None and seen_at <= instance.condition_at:
            return False
        instance.condition, instance.condition_at = condition, seen_at
        self.session.add(instance)
        log.info("instance.condition", instance_id=str(instance_id), condition=condition)
        return True

    async def running_instances(self) -> list[tuple[UUID, MachineRef]]:
        """Instances whose row says ``running``, with the reference to find their machine."""
        return [(i.id, _ref(i)) for i in await self.repo.with_status(S.RUNNING)]

    async def live_ids(self, ids: set[UUID]) -> set[UUID]:
        return await self.repo.live_ids(ids)

    async def correct_lost(self, instance_id: UUID, *, machine_exists: bool) -> bool:
        """A running instance's machine was found stopped (now ``paused``) or gone (``failed``).

        Announced like any other change; False when the row no longer says ``running``.
        """
        instance = await self.repo.get(instance_id, for_update=True)
        if instance is None or instance.status is not S.RUNNING:
            return False
        common = {"instance_id": instance.id, "user_id": instance.user_id}
        if machine_exists:
            self._set_status(
                instance,
                S.PAUSED,
                reason="its machine was found stopped",
                pause_reason=PauseReason.STOPPED,
            )
            self._emit(InstancePaused(status=S.PAUSED, reason=PauseReason.STOPPED, **common))
        else:
            reason = "its machine was found missing; destroy it and create it again (data is kept)"
            self._set_status(instance, S.FAILED, reason=reason)
            self._emit(InstanceFailed(status=S.FAILED, reason=reason, **common))
        log.warning("instance.reconciled", instance_id=str(instance_id), status=instance.status)
        return True

    # Rules

    async def _pause_if_unpaid(self, instance: Instance, command: InstanceCommand) -> None:
        """An instance that came up after its subscription ended (canceled while it was being
        created or woken) is paused for billing at once.

        The entitlement row is locked, as billing's event handler locks it: whichever commits
        second sees the other's change, so a cancel racing a create never leaves it running.
        """
        found = await EntitlementRepository(self.session).get(instance.user_id, for_update=True)
        if found is None or found.entitled:
            return
        pause = PauseInstance(
            id=uuid5(_UNPAID_PAUSES, str(command.id)),
            instance_id=instance.id,
            reason=PauseReason.BILLING,
            correlation_id=command.correlation_id,
        )
        add_to_outbox(self.session, pause)
        log.info("instance.unpaid_paused", instance_id=str(instance.id), status=found.status)

    async def _entitlement(self, cmd: InstanceCommand) -> tuple[dict[str, Any], AppError | None]:
        """With billing on, whether a create or wake may go ahead (else the refusal), and the
        machine the user's plan gives."""
        if not self.billing or not isinstance(cmd, CreateInstance | WakeInstance):
            return {}, None
        entitlements = EntitlementRepository(self.session)
        user_id = (
            cmd.user_id
            if isinstance(cmd, CreateInstance)
            else await entitlements.user_of(cmd.instance_id)
        )
        if user_id is None:
            return {}, None  # no such instance: the ordinary refusal says so
        found = await entitlements.get(user_id)
        if found is None or not found.entitled:
            return {}, PaymentRequired(_why_unpaid(found))
        return {"cpus": found.cpus, "memory_mb": found.memory_mb}, None

    async def _admit_new(self, cmd: CreateInstance) -> bool:
        """Insert the instance as ``provisioning`` unless its id exists or the user has a live
        one; announce it. False when something was in the way."""
        instance = Instance(
            id=cmd.instance_id,
            user_id=cmd.user_id,
            status=S.PROVISIONING,
            provider=self.provider_name,
            pending_command_id=cmd.id,
        )
        if not await self.repo.insert_unless_conflict(
            instance, unless_processed=(cmd.id, self._consumer(cmd))
        ):
            return False
        self._emit(
            InstanceRequested(
                instance_id=instance.id,
                user_id=instance.user_id,
                status=S.PROVISIONING,
                mesh=uses_mesh(self.provider_name),
                command_id=cmd.id,
                correlation_id=cmd.correlation_id,
            )
        )
        return True

    async def _refuse_create(self, cmd: CreateInstance, existing: Instance | None) -> None:
        """Why a create was not admitted: its instance exists already (nothing to do), or the
        user has a live instance (refused, naming it)."""
        if existing is not None:
            return  # the same instance id again: the create already happened
        live = await self.repo.live_for_user(cmd.user_id)
        name = f"instance {live.id} ({live.status.value})" if live else "a live instance"
        raise InstanceAlreadyExists(
            f"user {cmd.user_id} already has {name}",
            **({"existing_instance_id": str(live.id)} if live else {}),
        )

    def _admit_transition(self, cmd: InstanceCommand, instance: Instance | None) -> Instance | None:
        if instance is None:
            log.warning("instance.command_for_unknown", instance_id=str(cmd.instance_id))
            return None
        rule = RULES[type(cmd)]
        if instance.status not in rule.allowed_from:
            raise IllegalTransition(
                f"cannot {rule.verb} instance {instance.id}: {why_not(instance.status)}",
                status=instance.status.value,
            )
        self._set_status(instance, rule.via)
        instance.pending_command_id = cmd.id
        self._emit(
            InstanceAccepted(
                instance_id=instance.id,
                user_id=instance.user_id,
                status=rule.via,
                command=rule.verb,
                command_id=cmd.id,
                correlation_id=cmd.correlation_id,
            )
        )
        return instance

    def _reject(self, cmd: InstanceCommand, instance: Instance | None, why: AppError) -> None:
        existing = why.extra.get("existing_instance_id")
        self._emit(
            InstanceRejected(
                instance_id=cmd.instance_id,
                user_id=cmd.user_id if isinstance(cmd, CreateInstance) else instance.user_id,  # type: ignore[union-attr]
                status=instance.status if instance is not None else S.FAILED,
                command=RULES[type(cmd)].verb,
                error=InstanceRefusal(why.error),
                detail=why.detail,
                existing_instance_id=UUID(existing) if existing else None,
                command_id=cmd.id,
                correlation_id=cmd.correlation_id,
            )
        )
        mark_processed(self.session, cmd.id, self._consumer(cmd))
        log.info("instance.command_rejected", instance_id=str(cmd.instance_id), detail=why.detail)

    async def _pending(self, command: InstanceCommand) -> Instance | None:
        instance = await self.repo.get(command.instance_id, for_update=True)
        if instance is None or instance.pending_command_id != command.id:
            mark_processed(self.session, command.id, self._consumer(command))
            return None
        return instance

    def _set_status(
        self,
        instance: Instance,
        status: InstanceStatus,
        *,
        reason: str | None = None,
        pause_reason: PauseReason | None = None,
    ) -> None:
        instance.status = status
        instance.reason = reason
        instance.pause_reason = pause_reason if status is S.PAUSED else None
        instance.updated_at = utcnow()
        if status is not S.RUNNING:
            instance.condition = None  # a stopped machine has nothing wrong with it to show
        if status not in (S.PROVISIONING, S.PAUSING, S.WAKING, S.DESTROYING):
            instance.pending_command_id = None
        self.session.add(instance)

    def _emit(self, event: InstanceEvent) -> None:
        add_to_outbox(self.session, event)

    @staticmethod
    def _consumer(command: InstanceCommand) -> str:
        return f"provisioner.{command.type}"


def _ref(instance: Instance, size: dict[str, Any] | None = None) -> MachineRef:
    return MachineRef(instance_id=instance.id, user_id=instance.user_id, **(size or {}))


def _why_unpaid(found: Entitlement | None) -> str:
    if found is None:
        return (
            "a subscription is needed to create or wake an instance: choose a plan "
            "(POST /billing/checkout) and pay; your instance is created as soon as you have"
        )
    if found.status == "past_due":
        return (
            "your last payment failed and the grace period has ended: update your card in the "
            "billing portal (POST /billing/portal), then wake your instance"
        )
    return (
        f"your subscription is {found.status.replace('_', ' ')}: subscribe again "
        "(POST /billing/checkout) to create or wake an instance"
    )
