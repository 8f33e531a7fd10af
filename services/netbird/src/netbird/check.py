"""The netbird service's part of the reconciliation check: mesh resources whose instance is not
live any more (the provisioner, which owns instances, answers over the bus).

Such a mesh outlived its instance: the instance's ``destroyed`` or ``failed`` event was lost, or
the instance row is gone. ``fix`` tears it down as that event would have (policy → route → keys →
the server's peer → group), announced as ``evt.netbird.torn_down`` through the outbox.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from faststream.nats import NatsBroker

from claudecloud_common.checks import finding, instance_facts, outbox_backlog
from claudecloud_common.contracts.instances import LIVE_STATUSES, InstanceFailed, InstanceStatus
from claudecloud_common.contracts.ops import (
    FACTS_BATCH,
    CheckNetbird,
    CheckReport,
    DriftKind,
    Finding,
    GetInstanceFacts,
    InstanceFact,
)
from claudecloud_common.db import Database
from claudecloud_common.logging import get_logger
from claudecloud_common.rpc import rpc_reply, rpc_subscriber

from .models import Mesh
from .repository import MeshRepository
from .saga import MeshSaga

log = get_logger(__name__)

FACTS_TIMEOUT_SECONDS = 30.0
FIX_NAMESPACE = UUID("5d0f3a8e-2b7c-4e61-9f4a-8c1e6b2d7a90")


class NetbirdCheck:
    def __init__(self, db: Database, broker: NatsBroker, saga: MeshSaga) -> None:
        self.db = db
        self.broker = broker
        self.saga = saga
        self.settings = saga.settings

    async def run(self, *, fix: bool) -> CheckReport:
        """Meshes against live instances; with ``fix``, tear down the ones left behind."""
        findings = [await self._orphans(fix)]
        async with self.db.read() as session:
            backlog = await outbox_backlog(session, self.settings)
        return CheckReport(service="netbird", findings=findings, outbox=backlog)

    async def _orphans(self, fix: bool) -> Finding:
        async with self.db.read() as session:
            meshes = await MeshRepository(session).not_torn_down()
        facts = await self._facts([m.instance_id for m in meshes])
        orphans = [
            mesh
            for mesh in meshes
            if mesh.instance_id not in facts or facts[mesh.instance_id].status not in LIVE_STATUSES
        ]
        fixed = 0
        if fix:
            for mesh in orphans:
                await self._tear_down(mesh, facts.get(mesh.instance_id))
                fixed += 1
        return finding(
            DriftKind.MESH_WITHOUT_INSTANCE,
            [m.instance_id for m in orphans],
            fixable=True,
            fixed=fixed,
            detail="fix tears the mesh down (policy, route, keys, the server's peer, group)",
        )

    async def _tear_down(self, mesh: Mesh, fact: InstanceFact | None) -> None:
        status = fact.status if fact is not None else "unknown"
        log.warning("mesh.orphan_torn_down", instance_id=str(mesh.instance_id), instance=status)
        # The teardown the lost event would have started; its id is derived from the mesh row's
        # version, so the same fix asked twice (two operators) is one teardown.
        cause = InstanceFailed(
            id=uuid5(FIX_NAMESPACE, f"{mesh.instance_id}:{mesh.updated_at.isoformat()}"),
            instance_id=mesh.instance_id,
            user_id=mesh.user_id,
            status=InstanceStatus.FAILED,
            reason=f"reconciliation: the instance is {status}",
            correlation_id=f"ops-check-{mesh.instance_id}",
        )
        await self.saga.teardown(cause)

    async def _facts(self, ids: list[UUID]) -> dict[UUID, InstanceFact]:
        found: dict[UUID, InstanceFact] = {}
        for start in range(0, len(ids), FACTS_BATCH):
            query = GetInstanceFacts(instance_ids=ids[start : start + FACTS_BATCH])
            answer = await instance_facts(self.broker, query, timeout=FACTS_TIMEOUT_SECONDS)
            found |= {fact.instance_id: fact for fact in answer}
        return found


def register_check(broker: NatsBroker, check: NetbirdCheck) -> None:
    """Answer ``rpc.ops.check.netbird``."""

    @rpc_subscriber(broker, CheckNetbird, settings=check.settings)
    @rpc_reply
    async def on_check(query: CheckNetbird) -> CheckReport:
        """Mesh resources whose instance is not live (``fix``: tear them down)."""
        return await check.run(fix=query.fix)
