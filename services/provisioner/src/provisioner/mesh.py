"""The provisioner's side of the Hetzner + Netbird create saga (architecture, section 3).

A mesh instance's create stops after admission (``evt.instance.requested`` with ``mesh=true``).
``evt.netbird.prepared`` brings the one-off setup key: the provider makes the server with it, the
row records the server and ``evt.instance.created`` names the subnet. ``evt.netbird.finalized``
marks it ``running``. ``evt.netbird.failed`` fails it and removes the server (the data volume
stays); the netbird service tears its side down on the ``evt.instance.failed`` that follows. The
stuck sweeper is the saga's timeout: an instance still ``provisioning`` after
``STUCK_AFTER_SECONDS`` is failed the same way, and any server made for it is removed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage

from claudecloud_common.bus import delivery_attempt, event_subscriber
from claudecloud_common.contracts.base import Event, utcnow
from claudecloud_common.contracts.instances import (
    InstanceCreated,
    InstanceFailed,
    InstanceStatus,
    InstanceSubject,
)
from claudecloud_common.contracts.netbird import (
    MeshFailed,
    MeshFinalized,
    MeshPrepared,
    NetbirdSubject,
)
from claudecloud_common.contracts.providers import capabilities
from claudecloud_common.db import AsyncSession
from claudecloud_common.grouping import GroupCommit
from claudecloud_common.inbox import already_processed, mark_processed
from claudecloud_common.logging import bind_correlation, get_logger
from claudecloud_common.outbox import add_to_outbox

from .lifecycle import Cause
from .models import Instance
from .providers import Machine, MachineRef, Provider, ProviderError
from .repository import EntitlementRepository, InstanceRepository
from .service import InstanceService
from .settings import ProvisionerSettings

__all__ = ["MeshSteps", "register_mesh"]

log = get_logger(__name__)

S = InstanceStatus


class MeshSteps:
    """What each saga event changes in the instance row. Never commits."""

    def __init__(self, session: AsyncSession, provider: Provider) -> None:
        self.session = session
        self.repo = InstanceRepository(session)
        self.service = InstanceService(session, provider.name)

    async def provisioning(self, event: Event, instance_id: UUID) -> Instance | None:
        """The instance, while the saga may still move it; None (and the event marked handled)
        when it was handled before or the instance has moved on (failed by the timeout)."""
        if await already_processed(self.session, event.id, _consumer(event)):
            return None
        instance = await self.repo.get(instance_id, for_update=True)
        if instance is None or instance.status is not S.PROVISIONING:
            mark_processed(self.session, event.id, _consumer(event))
            return None
        return instance

    async def size(self, user_id: UUID) -> dict[str, Any]:
        """The machine the user's plan gives (billing's verdict), when billing said one."""
        found = await EntitlementRepository(self.session).get(user_id)
        return {"cpus": found.cpus, "memory_mb": found.memory_mb} if found else {}

    async def created(self, event: MeshPrepared, machine: Machine) -> bool:
        """Record the server (step 3); False when the instance moved on meanwhile."""
        instance = await self.provisioning(event, event.instance_id)
        if instance is None:
            return False
        instance.provider_id, instance.host = machine.provider_id, machine.host
        if machine.agent_secret is not None:
            instance.agent_secret = machine.agent_secret.get_secret_value()
        instance.updated_at = utcnow()
        self.session.add(instance)
        add_to_outbox(
            self.session,
            InstanceCreated(
                instance_id=instance.id,
                user_id=instance.user_id,
                status=S.PROVISIONING,
                host=machine.host,
                subnet=machine.network,
                command_id=instance.pending_command_id,
                correlation_id=event.correlation_id,
            ),
        )
        mark_processed(self.session, event.id, _consumer(event))
        log.info("instance.created", instance_id=str(instance.id), subnet=machine.network)
        return True

    async def running(self, event: MeshFinalized) -> None:
        """The mesh reaches the server: the instance runs (step 5)."""
        await self._move(event, event.instance_id, Cause.MESH_FINALIZED)

    async def failed(self, event: Event, instance_id: UUID, cause: Cause, reason: str) -> None:
        await self._move(event, instance_id, cause, reason)

    async def _move(
        self, event: Event, instance_id: UUID, cause: Cause, reason: str | None = None
    ) -> None:
        instance = await self.provisioning(event, instance_id)
        if instance is None:
            return
        command_id = instance.pending_command_id
        self.service.move(
            instance, cause, reason=reason, command_id=command_id, correlation=event.correlation_id
        )
        mark_processed(self.session, event.id, _consumer(event))
        log.info(f"instance.{instance.status.value}", instance_id=str(instance.id))


class MeshRunner:
    """Calls the provider between the steps' transactions, as the command runner does."""

    def __init__(self, commits: GroupCommit, provider: Provider, settings: ProvisionerSettings):
        self.commits = commits
        self.provider = provider
        self.settings = settings

    def steps(self, session: AsyncSession) -> MeshSteps:
        return MeshSteps(session, self.provider)

    async def prepared(self, event: MeshPrepared, attempt: int) -> None:
        instance = await self.commits.run(
            lambda s: self.steps(s).provisioning(event, event.instance_id)
        )
        if instance is None:
            return
        size = await self.commits.run(lambda s: self.steps(s).size(instance.user_id))
        ref = replace(instance.ref(**size), setup_key=event.setup_key)
        try:
            machine = await self.provider.create(ref)
        except ProviderError as exc:
            if exc.retryable and attempt < self.settings.bus_max_deliver:
                raise
            await self._remove_server(ref)  # a half-made server must not outlive the saga
            cause, reason = Cause(exc.failure.value), f"the server could not be created: {exc}"
            await self.commits.run(
                lambda s: self.steps(s).failed(event, event.instance_id, cause, reason)
            )
            return
        if not await self.commits.run(lambda s: self.steps(s).created(event, machine)):
            await self._remove_server(ref)  # the saga timed out while the server was being made

    async def finalized(self, event: MeshFinalized) -> None:
        await self.commits.run(lambda s: self.steps(s).running(event))

    async def mesh_failed(self, event: MeshFailed) -> None:
        instance = await self.commits.run(
            lambda s: self.steps(s).provisioning(event, event.instance_id)
        )
        if instance is None:
            return
        await self._remove_server(instance.ref())
        reason = f"the private network could not be set up ({event.step.value}): {event.reason}"
        cause = Cause.MESH_STEP_FAILED
        await self.commits.run(
            lambda s: self.steps(s).failed(event, event.instance_id, cause, reason)
        )

    async def instance_failed(self, event: InstanceFailed) -> None:
        """Any failed mesh instance (the saga timeout included) keeps no server."""
        await self._remove_server(MachineRef(event.instance_id, event.user_id))

    async def _remove_server(self, ref: MachineRef) -> None:
        await self.provider.destroy(ref, purge=False)


def register_mesh(
    broker: NatsBroker, commits: GroupCommit, provider: Provider, settings: ProvisionerSettings
) -> None:
    """Attach the saga's subscribers when the provider's machines join the mesh."""
    if not capabilities(provider.name).mesh:
        return
    runner = MeshRunner(commits, provider, settings)

    @event_subscriber(broker, NetbirdSubject.PREPARED, settings=settings)
    async def on_prepared(event: MeshPrepared, message: NatsMessage) -> None:
        """Group and setup key exist: make the server with the key (step 3)."""
        with bind_correlation(event.correlation_id, instance_id=str(event.instance_id)):
            await runner.prepared(event, delivery_attempt(message))

    @event_subscriber(broker, NetbirdSubject.FINALIZED, settings=settings)
    async def on_finalized(event: MeshFinalized) -> None:
        """Route and policy exist: the instance runs (step 5)."""
        await runner.finalized(event)

    @event_subscriber(broker, NetbirdSubject.FAILED, settings=settings)
    async def on_mesh_failed(event: MeshFailed) -> None:
        """The mesh could not be set up: remove the server, fail the instance."""
        with bind_correlation(event.correlation_id, instance_id=str(event.instance_id)):
            await runner.mesh_failed(event)

    @event_subscriber(broker, InstanceSubject.FAILED, settings=settings)
    async def on_instance_failed(event: InstanceFailed) -> None:
        """Compensation for every way a mesh instance fails: no server left behind."""
        await runner.instance_failed(event)


def _consumer(event: Event) -> str:
    return f"provisioner.{getattr(event, 'type', type(event).__name__)}"
