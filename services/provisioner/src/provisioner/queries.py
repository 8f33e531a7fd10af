"""What callers ask about instances (the rpc queries). Reads only: the handler opens a read."""

from __future__ import annotations

from uuid import UUID

from claudecloud_agentapi.checkpoint import Checkpoint
from claudecloud_common.contracts.instances import (
    InstanceEndpoint,
    InstanceStatus,
    InstanceView,
    LeftOff,
    RunningInstance,
)
from claudecloud_common.db import AsyncSession

from .errors import InstanceNotFound
from .providers import MachineRef
from .repository import InstanceRepository

S = InstanceStatus


class InstanceQueries:
    def __init__(self, session: AsyncSession) -> None:
        self.repo = InstanceRepository(session)

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
        return instance.endpoint()

    async def left_off(self, instance_id: UUID) -> LeftOff:
        """When and why it paused, and what the checkpoint before its latest stop saved."""
        instance = await self.repo.get(instance_id)
        if instance is None:
            raise InstanceNotFound(f"no instance with id {instance_id}")
        record = await self.repo.checkpoint(instance_id)
        paused = instance.status in (S.PAUSED, S.FROZEN)
        return LeftOff(
            instance_id=instance.id,
            status=instance.status,
            pause_reason=instance.pause_reason,
            paused_at=instance.updated_at if paused else None,
            checkpoint=Checkpoint.model_validate_json(record.payload)
            if record is not None and record.payload
            else None,
            checkpoint_error=record.error if record is not None else None,
        )

    async def endpoints(self, ids: list[UUID]) -> list[tuple[InstanceEndpoint, MachineRef]]:
        """Many instances' endpoints (as :meth:`endpoint`), each with its machine's reference."""
        return [(instance.endpoint(), instance.ref()) for instance in await self.repo.many(ids)]

    async def running_page(self, after: UUID | None, limit: int) -> list[RunningInstance]:
        found = await self.repo.running_page(after, limit)
        return [RunningInstance(id=i, user_id=u) for i, u in found]

    async def list_instances(self, *, user_id: UUID | None, live_only: bool) -> list[InstanceView]:
        return [i.view() for i in await self.repo.list(user_id=user_id, live_only=live_only)]
