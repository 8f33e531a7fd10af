"""The instance lifecycle rules. Never commits: the handler that calls it owns the transaction.

A command runs in three steps, each its own transaction around the provider call in between:
``begin`` admits it (or rejects it with a reason) and enters the transitional state;
``complete`` or ``fail`` records the outcome. Each step writes its event to the outbox and the
last one marks the command processed in the inbox, so a redelivered command resumes or is a no-op.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from pydantic import SecretStr

from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.instances import (
    CreateInstance,
    DestroyInstance,
    InstanceCommand,
    InstanceEvent,
    InstanceRefusal,
    InstanceRejected,
    InstanceStatus,
    PauseInstance,
    PauseReason,
    WakeInstance,
)
from claudecloud_common.contracts.providers import ProviderKind, capabilities
from claudecloud_common.db import AsyncSession
from claudecloud_common.errors import AppError, ConflictError
from claudecloud_common.inbox import already_processed, mark_processed
from claudecloud_common.logging import get_logger
from claudecloud_common.outbox import add_to_outbox

from .errors import IllegalTransition, InstanceAlreadyExists, PaymentRequired
from .events import announce
from .lifecycle import REPAIRS, Cause, changes, repair
from .models import Entitlement, Instance, PoolSlot
from .pool import PoolRepository, count_claim
from .providers import Machine, MachineRef
from .repository import EntitlementRepository, InstanceRepository
from .rules import RULES, why_not

if TYPE_CHECKING:
    from .checkpoints import Taken

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
    agent: AgentAddress | None = None
    """Where the machine's agent answered before the command (a stop checkpoints there)."""
    slot: PoolSlot | None = None
    """The warm pool slot a create claimed: its machine is made the user's."""


@dataclass(frozen=True)
class AgentAddress:
    host: str
    secret: SecretStr

    @classmethod
    def of(cls, instance: Instance) -> AgentAddress | None:
        if instance.host is None or instance.agent_secret is None:
            return None
        return cls(instance.host, SecretStr(instance.agent_secret))


class InstanceService:
    def __init__(
        self,
        session: AsyncSession,
        provider_name: ProviderKind,
        *,
        billing: bool = False,
        pool_image: str | None = None,
    ) -> None:
        self.session = session
        self.repo = InstanceRepository(session)
        self.provider_name = provider_name
        self.billing = billing
        """Create and wake need an entitled subscription, and its plan sizes the machine."""
        self.pool_image = pool_image
        """The image the warm pool's current slots are of (None: no pool to claim from)."""

    # Commands

    async def begin(self, command: InstanceCommand) -> Work | None:
        """Admit ``command`` and enter its transitional state; None when there is nothing to do."""
        size, unpaid = await self._entitlement(command)
        if isinstance(command, CreateInstance) and unpaid is None:
            admitted = await self._admit_new(command)
            if admitted is not None:
                slot = await self._claim(admitted)
                return Work(command, admitted.ref(**size), slot=slot)
        if await already_processed(self.session, command.id, self._consumer(command)):
            return None
        instance = await self.repo.get(command.instance_id, for_update=True)
        if instance is not None and instance.pending_command_id == command.id:
            # A redelivery: resume the interrupted work.
            log.info(
                "instance.command_resumed", instance_id=str(instance.id), status=instance.status
            )
            slot = (
                await PoolRepository(self.session).get(instance.slot_id)
                if instance.slot_id
                else None
            )
            return Work(command, instance.ref(**size), True, AgentAddress.of(instance), slot)
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
        return Work(command, instance.ref(**size), agent=AgentAddress.of(instance))

    async def complete(
        self, command: InstanceCommand, machine: Machine | None, taken: Taken | None = None
    ) -> None:
        """Record the provider's success: the command's last move, compare-and-set on the row
        still pending this command (a redelivery finds it done and changes nothing), with the
        checkpoint a stop took before."""
        rule = RULES[type(command)]
        cause = rule.done(command, capabilities(self.provider_name))
        pause_reason = command.reason if isinstance(command, PauseInstance) else None
        values = changes(rule.via, cause, pause_reason=pause_reason)
        if machine is not None:
            values |= {"provider_id": machine.provider_id, "host": machine.host}
            if machine.agent_secret is not None:
                values["agent_secret"] = machine.agent_secret.get_secret_value()
        instance = await self.repo.update_if_pending(command.instance_id, command.id, **values)
        mark_processed(self.session, command.id, self._consumer(command))
        if instance is None:
            return  # already completed: a redelivery
        if taken is not None:
            await self.session.merge(taken.record(instance.id))
        self._announce(instance, cause, command)
        log.info(f"instance.{instance.status.value}", instance_id=str(instance.id))
        if instance.status is S.RUNNING and self.billing:
            await self._pause_if_unpaid(instance, command)

    async def fail(self, command: InstanceCommand, cause: Cause, reason: str) -> None:
        """Record the provider's failure of a pending command (``cause`` says why, in a type)."""
        instance = await self._pending(command)
        if instance is None:
            return
        self.move(instance, cause, reason=reason, command_id=command.id, correlation=command)
        mark_processed(self.session, command.id, self._consumer(command))

    async def fail_stuck(self, older_than: timedelta) -> list[UUID]:
        """Mark instances stuck in a transitional state as failed; an instance never hangs."""
        failed = []
        for instance in await self.repo.stuck(utcnow() - older_than):
            reason = f"timed out while {instance.status.value}"
            self.move(instance, Cause.STUCK, reason=reason, command_id=None, correlation=None)
            failed.append(instance.id)
        return failed

    def move(
        self,
        instance: Instance,
        cause: Cause,
        *,
        reason: str | None = None,
        pause_reason: PauseReason | None = None,
        command_id: UUID | None,
        correlation: InstanceCommand | str | None,
    ) -> None:
        """Move a row loaded for update and announce its new status through the outbox: the
        one way the service changes a status outside a command's compare-and-set."""
        instance.move(cause, reason=reason, pause_reason=pause_reason, command_id=command_id)
        self.session.add(instance)
        correlation_id = (
            correlation
            if correlation is None or isinstance(correlation, str)
            else correlation.correlation_id
        )
        self._emit(announce(instance, cause, command_id=command_id, correlation_id=correlation_id))
        if instance.status is S.FAILED:
            log.warning(
                "instance.failed",
                instance_id=str(instance.id),
                code=cause.value,
                reason=reason,
            )

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

    async def correct(self, instance_id: UUID, machine: Machine | None) -> bool:
        """Make an up row (``running`` or ``frozen``) agree with its machine as the provider
        sees it: stopped → ``paused``, gone → ``failed``, frozen or thawed outside the platform
        → ``frozen`` or ``running``. Announced like any other change; False when nothing was
        to change (or the row has moved on since it was read)."""
        instance = await self.repo.get(instance_id, for_update=True)
        if instance is None or instance.status not in (S.RUNNING, S.FROZEN):
            return False
        cause = repair(instance.status, machine)
        if cause is None:
            return False
        self.move(
            instance,
            cause,
            reason=REPAIRS[cause],
            pause_reason=PauseReason.STOPPED,  # kept only where it ends paused or frozen
            command_id=None,
            correlation=None,
        )
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
        return {"cpus": found.cpus, "memory_mb": found.memory_mb, "disk_gb": found.disk_gb}, None

    async def _admit_new(self, cmd: CreateInstance) -> Instance | None:
        """Insert the instance as ``provisioning`` unless its id exists or the user has a live
        one; announce it. None when something was in the way. Its agent's secret is chosen
        here, so it is the same whatever machine it gets (a pool slot's, or a new one)."""
        instance = Instance(
            id=cmd.instance_id,
            user_id=cmd.user_id,
            status=S.PROVISIONING,
            provider=self.provider_name,
            agent_secret=secrets.token_urlsafe(32),
            pending_command_id=cmd.id,
        )
        if not await self.repo.insert_unless_conflict(
            instance, unless_processed=(cmd.id, self._consumer(cmd))
        ):
            return None
        self._announce(instance, None, cmd)
        return instance

    async def _claim(self, instance: Instance) -> PoolSlot | None:
        """A ready warm pool slot for a new instance, claimed in this transaction; None when
        the pool is empty or off, or the user had an instance before (their data volume is
        theirs to keep using: a slot brings a new, empty one)."""
        if self.pool_image is None:
            return None
        slot = None
        if not await self.repo.had_instances(instance.user_id, but=instance.id):
            slot = await PoolRepository(self.session).claim(instance.id, self.pool_image)
        count_claim(slot is not None)
        if slot is not None:
            instance.slot_id = slot.id
            await self.repo.set_slot(instance.id, slot.id)
            log.info("pool.slot_claimed", instance_id=str(instance.id), slot_id=str(slot.id))
        return slot

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
        refrozen = isinstance(cmd, PauseInstance) and cmd.keep_memory
        if refrozen and instance.status is S.FROZEN:
            raise IllegalTransition(
                f"cannot pause instance {instance.id}: it is already frozen",
                status=instance.status.value,
            )
        if rule.admit is None or instance.status not in rule.allowed_from:
            raise IllegalTransition(
                f"cannot {rule.verb} instance {instance.id}: {why_not(instance.status)}",
                status=instance.status.value,
            )
        self.move(instance, rule.admit, command_id=cmd.id, correlation=cmd)
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

    def _announce(self, instance: Instance, cause: Cause | None, cmd: InstanceCommand) -> None:
        purged = isinstance(cmd, DestroyInstance) and cmd.purge
        self._emit(
            announce(
                instance,
                cause,
                command_id=cmd.id,
                correlation_id=cmd.correlation_id,
                purged=purged,
            )
        )

    def _emit(self, event: InstanceEvent) -> None:
        add_to_outbox(self.session, event)

    @staticmethod
    def _consumer(command: InstanceCommand) -> str:
        return f"provisioner.{command.type}"


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
