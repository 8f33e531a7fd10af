"""The mesh side of the create saga, and teardown.

Each Netbird call sits between two transactions: the first records which call is about to be
made (``pending``), the second the id Netbird returned. A crash in between leaves ``pending`` set,
and the redelivered event adopts what that call made (found by the name this instance's row
says it used) instead of making a second one; a setup key, whose clear text Netbird shows only
once, is deleted and made again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.instances import (
    InstanceCreated,
    InstanceEvent,
    InstanceRequested,
)
from claudecloud_common.contracts.netbird import DeviceKey, GetDeviceKey, MeshStep
from claudecloud_common.db import Database
from claudecloud_common.locks import KeyedLock
from claudecloud_common.logging import bind_correlation, get_logger

from .client import Group, NetbirdClient, Policy, Route, SetupKeyClear
from .errors import NetbirdAPIError
from .models import Mesh
from .service import MeshService, mesh_name, route_network_id, server_peer_name
from .settings import NetbirdSettings

log = get_logger(__name__)

T = TypeVar("T")


class MeshSaga:
    """Prepare (group, key), finalize (route, policy), tear down (policy → route → group)."""

    def __init__(self, db: Database, client: NetbirdClient, settings: NetbirdSettings) -> None:
        self.db = db
        self.client = client
        self.settings = settings
        self._turns: KeyedLock[UUID] = KeyedLock()

    def turn(self, instance_id: UUID) -> AbstractAsyncContextManager[None]:
        """One step of one instance's saga at a time in this process. Two deliveries of one
        event can overlap (a redelivery while the first still runs, as under load in CI): the
        second waits, then finds the step done, instead of making a second setup key."""
        return self._turns.hold(instance_id)

    async def _tx(self, work: Callable[[MeshService], Awaitable[T]]) -> T:
        async with self.db.transaction() as session:
            return await work(MeshService(session))

    async def _call(self, mesh: Mesh, call: str, make: Callable[[], Awaitable[T]]) -> T:
        await self._tx(lambda s: s.note_pending(mesh.instance_id, call))
        return await make()

    def _give_up(self, exc: NetbirdAPIError, attempt: int) -> bool:
        """Whether a failure ends the saga (else the event is redelivered with backoff)."""
        return not exc.retryable or attempt >= self.settings.bus_max_deliver

    # Step 2: prepare

    async def prepare(self, event: InstanceRequested, attempt: int) -> None:
        """Make the instance's group and its one-off setup key; the group goes if the key fails."""
        name = mesh_name(self.settings.name_prefix, event.instance_id)
        with bind_correlation(event.correlation_id, instance_id=str(event.instance_id)):
            mesh = await self._tx(lambda s: s.open_prepare(event, name))
            if mesh is None:
                return
            try:
                group_id = mesh.group_id or await self._group(mesh)
                key = await self._setup_key(mesh, group_id)
            except NetbirdAPIError as exc:
                if not self._give_up(exc, attempt):
                    raise
                await self._undo_prepare(event, str(exc))
                return
            if not await self._tx(lambda s: s.prepared(event, key, group_id)):
                await self._delete(self.client.delete_setup_key, key.id)  # torn down meanwhile
                await self._delete(self.client.delete_group, group_id)

    async def _group(self, mesh: Mesh) -> str:
        adopted: Group | None = None
        if mesh.pending == "group":
            adopted = next(iter(await self.client.find_groups(mesh.name)), None)
        group = (
            adopted
            if adopted is not None
            else await self._call(mesh, "group", lambda: self.client.create_group(mesh.name))
        )
        group_id = group.id
        await self._tx(lambda s: s.note_pending(mesh.instance_id, None, group_id=group_id))
        return group_id

    async def _setup_key(self, mesh: Mesh, group_id: str) -> SetupKeyClear:
        if mesh.pending == "setup_key":  # made before a crash: its clear text is lost
            for key in await self.client.list_setup_keys():
                if key.name == mesh.name:
                    await self._delete(self.client.delete_setup_key, key.id)
        return await self._call(
            mesh,
            "setup_key",
            lambda: self.client.create_setup_key(
                mesh.name,
                groups=[group_id],
                expires_in=self.settings.setup_key_expires_seconds,
            ),
        )

    async def _undo_prepare(self, event: InstanceEvent, reason: str) -> None:
        mesh = await self._tx(lambda s: s.repo.get(event.instance_id))
        assert mesh is not None
        group_id = mesh.group_id
        if group_id is None and mesh.pending == "group":
            group_id = next(iter(g.id for g in await self.client.find_groups(mesh.name)), None)
        if group_id is not None:
            await self._delete(self.client.delete_group, group_id)
        await self._tx(lambda s: s.failed(event, MeshStep.PREPARE, reason, group_id=None))

    # Step 4: finalize

    async def finalize(self, event: InstanceCreated, attempt: int) -> None:
        """Route the instance's subnet and allow its group; the route goes if the policy fails."""
        with bind_correlation(event.correlation_id, instance_id=str(event.instance_id)):
            mesh = await self._tx(lambda s: s.open_finalize(event, event.subnet))
            if mesh is None:
                return
            assert mesh.group_id is not None
            assert mesh.subnet is not None
            try:
                route_id = mesh.route_id or await self._route(mesh, mesh.group_id, mesh.subnet)
                policy_id = await self._policy(mesh, mesh.group_id)
            except NetbirdAPIError as exc:
                if not self._give_up(exc, attempt):
                    raise
                await self._undo_finalize(event, str(exc))
                return
            if not await self._tx(lambda s: s.finalized(event, route_id, policy_id)):
                await self._delete(self.client.delete_policy, policy_id)  # torn down meanwhile
                await self._delete(self.client.delete_route, route_id)

    async def _route(self, mesh: Mesh, group_id: str, subnet: str) -> str:
        network_id = route_network_id(mesh.instance_id)
        adopted: Route | None = None
        if mesh.pending == "route":
            adopted = next(
                (r for r in await self.client.list_routes() if r.network_id == network_id), None
            )
        route = (
            adopted
            if adopted is not None
            else await self._call(
                mesh,
                "route",
                lambda: self.client.create_route(
                    network_id=network_id, description=mesh.name, network=subnet, group_id=group_id
                ),
            )
        )
        route_id = route.id
        await self._tx(lambda s: s.note_pending(mesh.instance_id, None, route_id=route_id))
        return route_id

    async def _policy(self, mesh: Mesh, group_id: str) -> str:
        adopted: Policy | None = None
        if mesh.pending == "policy":
            adopted = next(
                (p for p in await self.client.list_policies() if p.name == mesh.name), None
            )
        policy = (
            adopted
            if adopted is not None
            else await self._call(
                mesh, "policy", lambda: self.client.create_policy(mesh.name, group_id=group_id)
            )
        )
        policy_id = policy.id
        assert policy_id is not None
        return policy_id

    async def _undo_finalize(self, event: InstanceEvent, reason: str) -> None:
        mesh = await self._tx(lambda s: s.repo.get(event.instance_id))
        assert mesh is not None
        await self._remove_policy(mesh)
        await self._remove_route(mesh)
        await self._tx(
            lambda s: s.failed(event, MeshStep.FINALIZE, reason, route_id=None, policy_id=None)
        )

    # Teardown

    async def teardown(self, event: InstanceEvent) -> None:
        """Policy → route → setup keys → the server's peer → group; what is gone already is
        skipped, so a repeated teardown is harmless. The owner's own devices stay peers of the
        account (they only lose the group)."""
        with bind_correlation(event.correlation_id, instance_id=str(event.instance_id)):
            name = mesh_name(self.settings.name_prefix, event.instance_id)
            mesh = await self._tx(lambda s: s.open_teardown(event, name))
            if mesh is None:
                return
            await self._remove_policy(mesh)
            await self._remove_route(mesh)
            keys = await self._tx(lambda s: s.keys_of(mesh.instance_id))
            for key_id in {*keys, *([mesh.setup_key_id] if mesh.setup_key_id else [])}:
                await self._delete(self.client.delete_setup_key, key_id)  # server's and devices'
            await self._remove_group(mesh)
            await self._tx(lambda s: s.torn_down(event))

    async def _remove_policy(self, mesh: Mesh) -> None:
        policy_id = mesh.policy_id
        if policy_id is None and mesh.pending == "policy":
            policy_id = next(
                (p.id for p in await self.client.list_policies() if p.name == mesh.name), None
            )
        if policy_id is not None:
            await self._delete(self.client.delete_policy, policy_id)

    async def _remove_route(self, mesh: Mesh) -> None:
        route_id = mesh.route_id
        if route_id is None and mesh.pending == "route":
            network_id = route_network_id(mesh.instance_id)
            route_id = next(
                (r.id for r in await self.client.list_routes() if r.network_id == network_id),
                None,
            )
        if route_id is not None:
            await self._delete(self.client.delete_route, route_id)

    async def _remove_group(self, mesh: Mesh) -> None:
        group_id = mesh.group_id
        if group_id is None and mesh.pending == "group":
            group_id = next(iter(g.id for g in await self.client.find_groups(mesh.name)), None)
        if group_id is None:
            return
        try:
            group = await self.client.get_group(group_id)
        except NetbirdAPIError as exc:
            if exc.not_found:
                return
            raise
        server = server_peer_name(mesh.user_id)
        for peer in group.peers:
            if peer.name == server:  # its server is gone; the owner's devices are theirs
                await self._delete(self.client.delete_peer, peer.id)
        await self._delete(self.client.delete_group, group_id)

    async def _delete(self, delete: Callable[[str], Awaitable[None]], resource_id: str) -> None:
        try:
            await delete(resource_id)
        except NetbirdAPIError as exc:
            if not exc.not_found:
                raise

    # The user's own device

    async def device_key(self, query: GetDeviceKey) -> DeviceKey:
        """A one-off key that joins one of the owner's devices to the instance's group (the
        policy lets the group's peers reach each other)."""
        mesh = await self._tx(lambda s: s.ready_mesh(query.instance_id, query.user_id))
        assert mesh.group_id is not None
        key = await self.client.create_setup_key(
            f"{mesh.name}-device",
            groups=[mesh.group_id],
            expires_in=self.settings.setup_key_expires_seconds,
        )
        await self._tx(lambda s: _remember(s, key, mesh.instance_id))
        log.info("mesh.device_key", instance_id=str(mesh.instance_id))
        return DeviceKey(setup_key=key.key, expires_at=key.expires)

    # Expired setup keys

    async def delete_expired_keys(self, now: datetime | None = None) -> int:
        """Delete the expired setup keys this service created (never anyone else's)."""
        expired = await self._tx(lambda s: s.expired_keys(now or utcnow()))
        for key_id in expired:
            await self._delete(self.client.delete_setup_key, key_id)
        await self._tx(lambda s: s.forget_keys(expired))
        if expired:
            log.info("mesh.expired_keys_deleted", count=len(expired))
        return len(expired)


async def _remember(service: MeshService, key: SetupKeyClear, instance_id: UUID) -> None:
    service.remember_key(key, instance_id)
