"""The provisioner's part of the reconciliation check: its rows against the provider's machines.

Three kinds of drift are its own: a machine this deployment made whose instance is not live, an
up row (``running`` or ``frozen``) whose machine is in another state (stopped, gone, frozen or
thawed outside the platform), and a row left in a transitional state past
``stuck_after_seconds``. With ``fix`` it applies the corrections (the orphan's compute removed, its
data kept; the row moved to agree with its machine; the stuck row failed), each change announced
through the outbox. Run with its fixes, it is also the start-up reconciliation and a periodic
timer. It answers the other services' checks with facts about instances (``rpc.ops.instances``).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import UUID

from faststream.nats import NatsBroker

from claudecloud_common.background import Periodic
from claudecloud_common.checks import finding, outbox_backlog
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.instances import InstanceStatus
from claudecloud_common.contracts.ops import (
    FACTS_BATCH,
    CheckProvisioner,
    CheckReport,
    DriftKind,
    Finding,
    GetInstanceFacts,
    InstanceFact,
    InstanceFacts,
)
from claudecloud_common.db import Database
from claudecloud_common.logging import get_logger
from claudecloud_common.rpc import rpc_reply, rpc_subscriber

from .lifecycle import repair
from .models import Instance
from .pool import PoolRepository
from .providers import Machine, OwnedMachine, Provider, ProviderError
from .repository import InstanceRepository
from .service import InstanceService
from .settings import ProvisionerSettings

log = get_logger(__name__)

INSPECT_CONCURRENCY = 16
UP = (InstanceStatus.RUNNING, InstanceStatus.FROZEN)
"""Rows whose machine should be up, so the check asks the provider how it really is."""


class ProvisionerCheck:
    def __init__(self, db: Database, provider: Provider, settings: ProvisionerSettings) -> None:
        self.db = db
        self.provider = provider
        self.settings = settings

    async def run(self, *, fix: bool) -> CheckReport:
        """Compare rows with machines; with ``fix``, correct what is safe to correct."""
        findings = [
            *await self._machines(fix),
            await self._stuck(fix),
        ]
        async with self.db.read() as session:
            backlog = await outbox_backlog(session, self.settings)
        return CheckReport(
            service="provisioner",
            findings=findings,
            outbox=backlog,
            notes={"provider": self.provider.name},
        )

    async def _machines(self, fix: bool) -> list[Finding]:
        try:
            return [await self._orphans(fix), await self._lost(fix)]
        except ProviderError as exc:
            detail = f"the {self.provider.name} provider did not answer: {exc}"
            return [
                finding(
                    DriftKind.SERVICE_UNANSWERED, [f"provider:{self.provider.name}"], detail=detail
                )
            ]

    async def _orphans(self, fix: bool) -> Finding:
        """Machines whose instance is not live (no row, or a failed or destroyed one), and warm
        pool machines whose slot is unknown; an unclaimed slot's machine is the pool's."""
        machines = await self.provider.inventory()
        async with self.db.read() as session:
            slots = await PoolRepository(session).owners({m.slot_id for m in machines if m.slot_id})
            owners = {m.provider_id: _owner(m, slots) for m in machines}
            wanted = {owner for owner in owners.values() if owner is not None}
            live = await InstanceRepository(session).live_ids(wanted)
        pooled = {m.provider_id for m in machines if m.slot_id in slots and not slots[m.slot_id]}
        orphans = [
            m for m in machines if m.provider_id not in pooled and owners[m.provider_id] not in live
        ]
        fixed = 0
        if fix:
            for machine in orphans:
                await self._remove(machine)
                fixed += 1
        return finding(
            DriftKind.MACHINE_WITHOUT_ROW,
            [m.provider_id for m in orphans],
            fixable=True,
            fixed=fixed,
            detail="fix removes the compute and keeps the data volume",
        )

    async def _remove(self, machine: OwnedMachine) -> None:
        log.warning(
            "instance.orphan_removed",
            instance_id=str(machine.instance_id),
            user_id=str(machine.user_id),
            provider_id=machine.provider_id,
            running=machine.running,
        )
        await self.provider.remove_orphan(machine)

    async def _lost(self, fix: bool) -> Finding:
        """Up rows whose machine is otherwise: stopped (fixed: ``paused``), gone (``failed``),
        frozen or thawed outside the platform (``frozen`` or ``running``)."""
        async with self.db.read() as session:
            up = await InstanceRepository(session).with_statuses(UP)
        gate = asyncio.Semaphore(INSPECT_CONCURRENCY)

        async def inspect(instance: Instance) -> Machine | None:
            async with gate:
                return await self.provider.inspect(instance.ref())

        machines = await asyncio.gather(*(inspect(i) for i in up))
        lost = [
            (i, m) for i, m in zip(up, machines, strict=True) if repair(i.status, m) is not None
        ]
        fixed = 0
        if fix:
            for instance, machine in lost:
                async with self.db.transaction() as session:
                    service = InstanceService(session, self.provider.name)
                    fixed += await service.correct(instance.id, machine)
        return finding(
            DriftKind.ROW_WITHOUT_MACHINE,
            [i.id for i, _ in lost],
            fixable=True,
            fixed=fixed,
            detail="fix moves the row to its machine's state: stopped → paused, missing → "
            "failed, frozen → frozen, running → running",
        )

    async def _stuck(self, fix: bool) -> Finding:
        after = timedelta(seconds=self.settings.stuck_after_seconds)
        async with self.db.read() as session:
            stuck = await InstanceRepository(session).stuck(utcnow() - after)
        fixed = 0
        if fix and stuck:
            async with self.db.transaction() as session:
                fixed = len(await InstanceService(session, self.provider.name).fail_stuck(after))
        return finding(
            DriftKind.STUCK_TRANSITION,
            [f"{i.id} ({i.status.value})" for i in stuck],
            fixable=True,
            fixed=fixed,
            detail=f"fix marks them failed (timeout {after.total_seconds():.0f}s)",
        )

    async def facts(self, query: GetInstanceFacts) -> InstanceFacts:
        """Instances by id (any status), the live ones of some users, or a page of running ones."""
        found: list[Instance] = []
        async with self.db.read() as session:
            repo = InstanceRepository(session)
            found += await repo.many(query.instance_ids)
            found += await repo.live_of_users(query.user_ids)
            if query.running_page:
                found += await repo.running_after(query.running_after, FACTS_BATCH)
        return InstanceFacts(
            items=[
                InstanceFact(
                    instance_id=i.id, user_id=i.user_id, status=i.status, provider=i.provider
                )
                for i in found
            ]
        )


def _owner(machine: OwnedMachine, slots: dict[UUID, UUID | None]) -> UUID | None:
    """The instance a machine is: as its labels say, or as its claimed slot's row says."""
    if machine.instance_id is not None:
        return machine.instance_id
    return slots.get(machine.slot_id) if machine.slot_id is not None else None


def log_report(report: CheckReport) -> None:
    """One line per kind of drift found (and what was fixed), one when all is well."""
    found = [f for f in report.findings if f.count]
    for item in found:
        log.warning(
            "ops.drift",
            service=report.service,
            kind=item.kind.value,
            count=item.count,
            fixed=item.fixed,
            samples=",".join(item.samples),
        )
    if report.outbox.stale:
        log.warning(
            "ops.drift",
            service=report.service,
            kind=DriftKind.OUTBOX_BACKLOG.value,
            count=report.outbox.stale,
            oldest_age_seconds=report.outbox.oldest_age_seconds,
        )
    if not found and not report.outbox.stale:
        log.info("ops.check_clean", service=report.service)


class CheckTimer(Periodic):
    """Runs the check with its safe fixes every ``interval`` seconds (0: never)."""

    name = "reconciliation-check"
    failure_event = "ops.check_failed"  # the database or the provider is down: next time

    def __init__(self, check: ProvisionerCheck, interval: float) -> None:
        super().__init__(interval)
        self.check = check

    async def tick(self) -> None:
        log_report(await self.check.run(fix=True))


def register_check(broker: NatsBroker, check: ProvisionerCheck) -> None:
    """Answer ``rpc.ops.check.provisioner`` and ``rpc.ops.instances``."""
    settings = check.settings

    @rpc_subscriber(broker, CheckProvisioner, settings=settings)
    @rpc_reply
    async def on_check(query: CheckProvisioner) -> CheckReport:
        """The provisioner's records against its provider's machines (``fix``: correct them)."""
        report = await check.run(fix=query.fix)
        log_report(report)
        return report

    @rpc_subscriber(broker, GetInstanceFacts, settings=settings)
    @rpc_reply
    async def on_facts(query: GetInstanceFacts) -> InstanceFacts:
        """Instances' ids, owners, statuses and providers, for the other services' checks."""
        return await check.facts(query)
