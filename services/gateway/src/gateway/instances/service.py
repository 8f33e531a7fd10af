"""What the instance API does, in terms of the bus: queries over request-reply, commands over
JetStream, and the provisioner's answer to each command awaited for a bounded time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID, uuid4, uuid5

from faststream.nats import NatsBroker

from claudecloud_common.bus import publish
from claudecloud_common.contracts.activity import ActivityView, GetActivity
from claudecloud_common.contracts.instances import (
    CreateInstance,
    DestroyInstance,
    GetInstance,
    GetLeftOff,
    InstanceCommand,
    InstanceEvent,
    InstanceRejected,
    InstanceView,
    LeftOff,
    ListInstances,
    PauseInstance,
    WakeInstance,
)
from claudecloud_common.rpc import RemoteError, request

from .cache import EventFreshCache
from .errors import refused
from .events import EventHub

IDEMPOTENCY_NAMESPACE = UUID("6f1c0c5e-2f55-4c47-9a43-5b1c3f6e8a10")


@dataclass(frozen=True)
class Accepted:
    """A command the bus holds: admitted (``status`` is where it went) or still queued."""

    instance_id: UUID
    user_id: UUID
    status: str
    replayed: bool = False


class InstanceGateway:
    def __init__(
        self,
        broker: NatsBroker,
        hub: EventHub,
        *,
        rpc_timeout: float,
        admission_timeout: float,
        cache_seconds: float = 0.0,
        admit: Callable[[UUID], Awaitable[None]] | None = None,
    ) -> None:
        self.broker = broker
        self.admit = admit
        """Raises when the user may not create or wake now (a spent hard-stop budget): asked
        before every create and wake, the terminal's and chat's wakes on access included."""
        self.hub = hub
        self.rpc_timeout = rpc_timeout
        self.admission_timeout = admission_timeout
        self._views: EventFreshCache[InstanceView] = EventFreshCache(cache_seconds)

    def changed(self, instance_id: UUID) -> None:
        """An event about ``instance_id`` arrived: what is cached about it is out of date."""
        self._views.changed(instance_id)

    async def get(self, instance_id: UUID) -> InstanceView:
        return await self._views.get(instance_id, lambda: self._ask(instance_id))

    async def _ask(self, instance_id: UUID) -> InstanceView:
        return await request(
            self.broker, GetInstance(instance_id=instance_id), timeout=self.rpc_timeout
        )

    async def list(self, user_id: UUID | None, *, live_only: bool = False) -> list[InstanceView]:
        """Instances, newest first: one user's or everyone's, or only the live ones."""
        query = ListInstances(user_id=user_id, live_only=live_only)
        return (await request(self.broker, query, timeout=self.rpc_timeout)).items

    async def left_off(self, instance: InstanceView) -> LeftOff:
        """When and why it paused, and what was saved before its latest stop."""
        query = GetLeftOff(instance_id=instance.id)
        return await request(self.broker, query, timeout=self.rpc_timeout)

    async def activity(self, instance: InstanceView) -> ActivityView:
        """Why the instance still runs or why it stopped, as the activity service decided; only
        its status while activity has nothing on it yet (it has not run)."""
        query = GetActivity(instance_id=instance.id)
        try:
            return await request(self.broker, query, timeout=self.rpc_timeout)
        except RemoteError as exc:
            if exc.status_code != 404:
                raise
        return ActivityView(
            instance_id=instance.id, user_id=instance.user_id, status=instance.status
        )

    async def create(
        self, user_id: UUID, *, idempotency_key: str | None, correlation_id: str
    ) -> Accepted:
        if idempotency_key is None:
            command = CreateInstance(
                instance_id=uuid4(), user_id=user_id, correlation_id=correlation_id
            )
        else:
            seed = f"{user_id}:{idempotency_key}"
            command = CreateInstance(
                id=uuid5(IDEMPOTENCY_NAMESPACE, f"cmd:{seed}"),
                instance_id=uuid5(IDEMPOTENCY_NAMESPACE, f"instance:{seed}"),
                user_id=user_id,
                correlation_id=correlation_id,
            )
            replay = await self._existing(command.instance_id)
            if replay is not None:
                return Accepted(replay.id, replay.user_id, replay.status.value, replayed=True)
        return await self._send(command, user_id)

    async def transition(
        self, command: PauseInstance | WakeInstance | DestroyInstance, owner: UUID
    ) -> Accepted:
        return await self._send(command, owner)

    async def _existing(self, instance_id: UUID) -> InstanceView | None:
        try:
            return await self.get(instance_id)
        except RemoteError as exc:
            if exc.status_code == 404:
                return None
            raise

    async def _send(self, command: InstanceCommand, user_id: UUID) -> Accepted:
        if self.admit is not None and isinstance(command, CreateInstance | WakeInstance):
            await self.admit(user_id)
        with self.hub.admission(command.id) as answer:
            await publish(self.broker, command)
            try:
                event: InstanceEvent = await asyncio.wait_for(answer, self.admission_timeout)
            except TimeoutError:
                return Accepted(command.instance_id, user_id, "queued")
        if isinstance(event, InstanceRejected):
            raise refused(event)
        return Accepted(command.instance_id, user_id, event.status.value)
