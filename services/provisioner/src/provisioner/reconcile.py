"""No lost instances: at start-up, the rows and the provider's machines are made to agree.

A machine this deployment made whose instance is not live (no row, or a failed or destroyed one)
is reported and its compute removed; its data volume is kept. A row that says ``running`` whose
machine is stopped becomes ``paused``, and one whose machine is gone becomes ``failed``; both are
announced through the outbox like any other change.
"""

from __future__ import annotations

from claudecloud_common.db import Database
from claudecloud_common.logging import describe_error, get_logger

from .providers import OwnedMachine, Provider, ProviderError
from .service import InstanceService

log = get_logger(__name__)


class Reconciler:
    def __init__(self, db: Database, provider: Provider) -> None:
        self.db = db
        self.provider = provider

    async def run(self) -> None:
        """Reconcile once; a provider that does not answer is reported, never fatal."""
        try:
            await self.remove_orphans()
            await self.correct_running()
        except ProviderError as exc:
            log.warning("instance.reconcile_failed", error=describe_error(exc))

    async def remove_orphans(self) -> list[OwnedMachine]:
        machines = await self.provider.inventory()
        async with self.db.read() as session:
            service = InstanceService(session, self.provider.name)
            live = await service.live_ids({m.instance_id for m in machines})
        orphans = [m for m in machines if m.instance_id not in live]
        for machine in orphans:
            log.warning(
                "instance.orphan_removed",
                instance_id=str(machine.instance_id),
                user_id=str(machine.user_id),
                provider_id=machine.provider_id,
                running=machine.running,
            )
            await self.provider.remove_orphan(machine)
        return orphans

    async def correct_running(self) -> None:
        async with self.db.read() as session:
            running = await InstanceService(session, self.provider.name).running_instances()
        for instance_id, ref in running:
            machine = await self.provider.inspect(ref)
            if machine is not None and machine.running:
                continue
            async with self.db.transaction() as session:
                await InstanceService(session, self.provider.name).correct_lost(
                    instance_id, machine_exists=machine is not None
                )
