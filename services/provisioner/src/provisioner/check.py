"""The provisioner's part of the reconciliation check: its rows against the provider's machines.

Three kinds of drift are its own: a machine this deployment made whose instance is not live, a
``running`` row whose machine is stopped or gone, and a row left in a transitional state past
``stuck_after_seconds``. With ``fix`` it applies the corrections reconciliation makes (the orphan's
compute removed, its data kept; the lost row moved to ``paused`` or ``failed``; the stuck row
failed), each change announced through the outbox. It also answers the other services' checks
with facts about instances (``rpc.ops.instances``), and runs itself on a timer.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from faststream.nats import NatsBroker

from claudecloud_common.background import Periodic
from claudecloud_common.bus import rpc_reply, rpc_subscriber
from claudecloud_common.checks import finding, outbox_backlog
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.instances import InstanceStatus
from claudecloud_common.contracts.ops import (
    FACTS_BATCH,
    CheckReport,
    DriftKind,
    Finding,
    GetInstanceFacts,
    InstanceFact,
    InstanceFacts,
    OpsSubject,
    RunCheck,
)
from claudecloud_common.db import Database
from claudecloud_common.logging import get_logger

from .models import Instance
from .providers import Machine, MachineRef, OwnedMachine, Provider, ProviderError
from .repository import InstanceRepository
from .service import InstanceService
from .settings import ProvisionerSettings

log = get_logger(__name__)

INSPECT_CONCURRENCY = 16


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
        """Machines whose instance is not live (no row, or a failed or destroyed one)."""
        machines = await self.provider.inventory()
        async with self.db.read() as session:
            live = await InstanceRepository(session).live_ids({m.instance_id for m in machines})
        orphans = [m for m in machines if m.instance_id not in live]
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
        """``running`` rows whose machine is stopped (fixed: ``paused``) or gone (``failed``)."""
        async with self.db.read() as session:
            running = await InstanceRepository(session).with_status(InstanceStatus.RUNNING)
        gate = asyncio.Semaphore(INSPECT_CONCURRENCY)

        async def inspect(instance: Instance) -> Machine | None:
            async with gate:
                return await self.provider.inspect(_ref(instance))

        machines = await asyncio.gather(*(inspect(i) for i in running))
        lost = [
            (i, m) for i, m in zip(running, machines, strict=True) if m is None or not m.running
        ]
        fixed = 0
        if fix:
            for instance, machine in lost:
                async with self.db.transaction() as session:
                    service = InstanceService(session, self.provider.name)
                    fixed += await service.correct_lost(instance.id, machine_exists=bool(machine))
        return finding(
            DriftKind.ROW_WITHOUT_MACHINE,
            [i.id for i, _ in lost],
            fixable=True,
            fixed=fixed,
            detail="fix marks a stopped machine's row paused and a missing one's failed",
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


def _ref(instance: Instance) -> MachineRef:
    return MachineRef(instance_id=instance.id, user_id=instance.user_id)


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

    @rpc_subscriber(broker, OpsSubject.CHECK_PROVISIONER, settings=settings)
    @rpc_reply
    async def on_check(query: RunCheck) -> CheckReport:
        """The provisioner's records against its provider's machines (``fix``: correct them)."""
        report = await check.run(fix=query.fix)
        log_report(report)
        return report

    @rpc_subscriber(broker, OpsSubject.INSTANCE_FACTS, settings=settings)
    @rpc_reply
    async def on_facts(query: GetInstanceFacts) -> InstanceFacts:
        """Instances' ids, owners, statuses and providers, for the other services' checks."""
        return await check.facts(query)
