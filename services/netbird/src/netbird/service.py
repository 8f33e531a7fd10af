"""The mesh rules: which saga step may run, and what each outcome records and announces.

Never commits and never calls Netbird: the saga (``saga.py``) opens a transaction around each
step here and makes the Netbird call between two of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from claudecloud_common.contracts.base import Event, utcnow
from claudecloud_common.contracts.instances import InstanceEvent
from claudecloud_common.contracts.netbird import (
    MeshFailed,
    MeshFinalized,
    MeshPrepared,
    MeshStep,
    MeshTornDown,
)
from claudecloud_common.db import AsyncSession
from claudecloud_common.inbox import already_processed, mark_processed
from claudecloud_common.logging import get_logger
from claudecloud_common.outbox import add_to_outbox

from .client import SetupKeyClear
from .errors import MeshNotReady
from .models import Mesh, MeshStatus, SetupKeyRecord
from .repository import MeshRepository

log = get_logger(__name__)

M = MeshStatus


def mesh_name(prefix: str, instance_id: UUID) -> str:
    """What everything made for ``instance_id`` is called in Netbird."""
    return f"{prefix}-{instance_id}"


def server_peer_name(user_id: UUID) -> str:
    """The peer an instance's server enrols as: its hostname, ``claude-<user_id>``
    (``terraform/modules/user_instance``)."""
    return f"claude-{user_id}"


def route_network_id(instance_id: UUID) -> str:
    """The route's network identifier (Netbird allows 40 characters)."""
    return f"cc-{instance_id.hex}"


class MeshService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = MeshRepository(session)

    # Opening a step: None when the event was handled before or asks nothing of this mesh.

    async def open_prepare(self, event: InstanceEvent, name: str) -> Mesh | None:
        """Step 2 begins: the instance's row, made on first sight."""
        if await self._seen(event):
            return None
        mesh = await self.repo.get(event.instance_id, for_update=True)
        if mesh is None:
            mesh = Mesh(
                instance_id=event.instance_id,
                user_id=event.user_id,
                status=M.PREPARING,
                name=name,
            )
            self.repo.add(mesh)
            await self.session.flush()
            return mesh
        if mesh.status is M.PREPARING:
            return mesh  # a redelivery after a crash or a retryable failure: resume
        self._done(event)
        return None

    async def open_finalize(self, event: InstanceEvent, subnet: str | None) -> Mesh | None:
        """Step 4 begins once the server exists; only for an instance this service prepared."""
        if await self._seen(event):
            return None
        mesh = await self.repo.get(event.instance_id, for_update=True)
        if mesh is None or mesh.status not in (M.PREPARED, M.FINALIZING) or not subnet:
            if mesh is not None:
                log.warning("mesh.finalize_skipped", instance_id=str(mesh.instance_id))
            self._done(event)
            return None
        mesh.status, mesh.subnet, mesh.updated_at = M.FINALIZING, subnet, utcnow()
        self.repo.add(mesh)
        return mesh

    async def open_teardown(self, event: InstanceEvent, name: str) -> Mesh | None:
        """Teardown begins when the instance is destroyed or failed. An instance never seen
        before gets a torn-down row, so its ``requested`` event, should it arrive later (each
        subject has its own consumer), makes nothing."""
        if await self._seen(event):
            return None
        mesh = await self.repo.get(event.instance_id, for_update=True)
        if mesh is None:
            self.repo.add(
                Mesh(
                    instance_id=event.instance_id,
                    user_id=event.user_id,
                    status=M.TORN_DOWN,
                    name=name,
                )
            )
        if mesh is None or mesh.status is M.TORN_DOWN:
            self._done(event)
            return None
        return mesh

    # Around each Netbird call

    async def note_pending(self, instance_id: UUID, call: str | None, **ids: Any) -> None:
        """Record ids Netbird returned and the call about to be made (None: no call)."""
        mesh = await self._row(instance_id)
        for key, value in ids.items():
            setattr(mesh, key, value)
        mesh.pending, mesh.updated_at = call, utcnow()
        self.repo.add(mesh)

    # Outcomes

    async def prepared(self, event: InstanceEvent, key: SetupKeyClear, group_id: str) -> bool:
        """Record group and key and hand the key on; False when the instance was torn down
        meanwhile (the caller removes both)."""
        mesh = await self._row(event.instance_id)
        if mesh.status is not M.PREPARING:
            self._done(event)
            return False
        mesh.group_id, mesh.setup_key_id, mesh.pending = group_id, key.id, None
        mesh.status, mesh.updated_at = M.PREPARED, utcnow()
        self.repo.add(mesh)
        self.repo.add_key(
            SetupKeyRecord(key_id=key.id, instance_id=mesh.instance_id, expires_at=key.expires)
        )
        self._emit(
            MeshPrepared(
                instance_id=mesh.instance_id,
                user_id=mesh.user_id,
                group_id=group_id,
                setup_key=key.key,
                correlation_id=event.correlation_id,
            )
        )
        self._done(event)
        log.info("mesh.prepared", instance_id=str(mesh.instance_id), group_id=group_id)
        return True

    async def finalized(self, event: InstanceEvent, route_id: str, policy_id: str) -> bool:
        """Record route and policy; False when the instance was torn down meanwhile."""
        mesh = await self._row(event.instance_id)
        if mesh.status is not M.FINALIZING:
            self._done(event)
            return False
        mesh.route_id, mesh.policy_id, mesh.pending = route_id, policy_id, None
        mesh.status, mesh.updated_at = M.READY, utcnow()
        self.repo.add(mesh)
        assert mesh.group_id is not None
        self._emit(
            MeshFinalized(
                instance_id=mesh.instance_id,
                user_id=mesh.user_id,
                group_id=mesh.group_id,
                route_id=route_id,
                policy_id=policy_id,
                correlation_id=event.correlation_id,
            )
        )
        self._done(event)
        log.info("mesh.finalized", instance_id=str(mesh.instance_id), route_id=route_id)
        return True

    async def failed(self, event: InstanceEvent, step: MeshStep, reason: str, **gone: Any) -> None:
        """A step failed and what it made is removed (``gone``: those ids, now None)."""
        mesh = await self._row(event.instance_id)
        if mesh.status is M.TORN_DOWN:
            self._done(event)  # the instance is gone already: nothing left to announce
            return
        for key, value in gone.items():
            setattr(mesh, key, value)
        mesh.status, mesh.reason, mesh.pending, mesh.updated_at = M.FAILED, reason, None, utcnow()
        self.repo.add(mesh)
        self._emit(
            MeshFailed(
                instance_id=mesh.instance_id,
                user_id=mesh.user_id,
                step=step,
                reason=reason,
                correlation_id=event.correlation_id,
            )
        )
        self._done(event)
        log.warning("mesh.failed", instance_id=str(mesh.instance_id), step=step, reason=reason)

    async def torn_down(self, event: InstanceEvent) -> None:
        mesh = await self._row(event.instance_id)
        mesh.group_id = mesh.setup_key_id = mesh.route_id = mesh.policy_id = None
        mesh.status, mesh.pending, mesh.updated_at = M.TORN_DOWN, None, utcnow()
        self.repo.add(mesh)
        await self.repo.forget_keys_of(mesh.instance_id)  # deleted with the rest
        self._emit(
            MeshTornDown(
                instance_id=mesh.instance_id,
                user_id=mesh.user_id,
                correlation_id=event.correlation_id,
            )
        )
        self._done(event)
        log.info("mesh.torn_down", instance_id=str(mesh.instance_id))

    # Setup keys

    async def ready_mesh(self, instance_id: UUID, user_id: UUID) -> Mesh:
        """The finished mesh of ``user_id``'s instance, or :class:`MeshNotReady`."""
        mesh = await self.repo.get(instance_id)
        if mesh is None or mesh.user_id != user_id or mesh.status is not M.READY:
            raise MeshNotReady(
                f"instance {instance_id} has no private network ready to join "
                f"({mesh.status.value if mesh is not None else 'no mesh'})"
            )
        return mesh

    async def keys_of(self, instance_id: UUID) -> list[str]:
        """Ids of every key this service made for ``instance_id`` (server and devices)."""
        return [k.key_id for k in await self.repo.keys_of(instance_id)]

    def remember_key(self, key: SetupKeyClear, instance_id: UUID) -> None:
        """A key this service made: the clean-up deletes it once expired."""
        self.repo.add_key(
            SetupKeyRecord(key_id=key.id, instance_id=instance_id, expires_at=key.expires)
        )

    async def expired_keys(self, now: datetime) -> list[str]:
        """Ids of keys this service created that have expired by ``now``."""
        return [k.key_id for k in await self.repo.expired_keys(now)]

    async def forget_keys(self, key_ids: list[str]) -> None:
        await self.repo.forget_keys(key_ids)

    # Helpers

    async def _row(self, instance_id: UUID) -> Mesh:
        mesh = await self.repo.get(instance_id, for_update=True)
        assert mesh is not None, f"no mesh row for {instance_id}"
        return mesh

    async def _seen(self, event: InstanceEvent) -> bool:
        return await already_processed(self.session, event.id, _consumer(event))

    def _done(self, event: InstanceEvent) -> None:
        mark_processed(self.session, event.id, _consumer(event))

    def _emit(self, event: Event) -> None:
        add_to_outbox(self.session, event)


def _consumer(event: InstanceEvent) -> str:
    return f"netbird.{event.type}"
