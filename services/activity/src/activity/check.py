"""Activity's part of the reconciliation check: what it meters against what runs, and whether the
running instances' agents answer.

The provisioner owns which instances run; activity asks it over the bus (``rpc.ops.instances``, in
pages) and compares with its own rows. Three kinds of drift are found here:

- usage open on an instance that does not run (activity follows it as running, or as frozen,
  so it would keep metering it); ``fix`` records the status the provisioner has, unless an event
  changed the row meanwhile;
- a running instance activity does not follow (never paused when idle, never metered); ``fix``
  starts following it, as the hourly resync would;
- a running instance whose agent does not answer ``GET /activity`` now (the fake provider's
  instances have no agent and are not asked). A frozen machine's agent cannot answer and is
  never asked: frozen is not a fault.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from faststream.nats import NatsBroker

from claudecloud_common.checks import finding, instance_facts, outbox_backlog
from claudecloud_common.contracts.instances import (
    GetMachineActivity,
    InstanceStatus,
    MachineActivity,
    RunningInstance,
)
from claudecloud_common.contracts.ops import (
    FACTS_BATCH,
    CheckActivity,
    CheckReport,
    DriftKind,
    Finding,
    GetInstanceFacts,
    InstanceFact,
)
from claudecloud_common.contracts.providers import capabilities
from claudecloud_common.db import Database
from claudecloud_common.errors import UnavailableError
from claudecloud_common.logging import get_logger
from claudecloud_common.rpc import request, rpc_reply, rpc_subscriber

from .agents import AgentClient, AgentUnreachable
from .clock import Clock
from .repository import ActivityRepository
from .rules import Policy
from .service import ActivityService
from .settings import ActivitySettings

log = get_logger(__name__)

S = InstanceStatus
_STILL_UP = {
    S.RUNNING: (S.RUNNING,),
    S.FROZEN: (S.FROZEN, S.RUNNING, S.PAUSING, S.WAKING),  # thawed, or a stop or wake under way
}
"""What the provisioner may say of an instance activity follows as running, or as frozen, that is
not drift (a thawed one is the other finding's: running and not followed as running)."""


class ActivityCheck:
    def __init__(
        self,
        db: Database,
        broker: NatsBroker,
        settings: ActivitySettings,
        policy: Policy,
        clock: Clock,
    ) -> None:
        self.db = db
        self.broker = broker
        self.settings = settings
        self.policy = policy
        self.clock = clock

    async def run(self, *, fix: bool) -> CheckReport:
        """Compare what activity meters with what runs; with ``fix``, follow what runs."""
        running = await self._running()
        async with self.db.read() as session:
            repo = ActivityRepository(session)
            following = await repo.following()
            frozen = await repo.following(InstanceStatus.FROZEN)
            known = await repo.known_ids(list(running))
        # The labelled demo's machines (and the tests' fake) have no agent to ask.
        unasked = [f for f in running.values() if not capabilities(f.provider).agent]
        findings = [
            await self._open_on_stopped(following, frozen, running, fix),
            await self._not_metered(running, following, known, fix),
            await self._agents([f for f in running.values() if capabilities(f.provider).agent]),
        ]
        async with self.db.read() as session:
            backlog = await outbox_backlog(session, self.settings)
        notes = {}
        if unasked:
            notes["agents"] = f"not asked for {len(unasked)} demo instance(s) (no agent)"
        return CheckReport(service="activity", findings=findings, outbox=backlog, notes=notes)

    async def _instance_facts(self, query: GetInstanceFacts) -> list[InstanceFact]:
        timeout = self.settings.provider_timeout_seconds
        return await instance_facts(self.broker, query, timeout=timeout)

    async def _running(self) -> dict[UUID, InstanceFact]:
        """Every running instance, as the provisioner says, a page at a time."""
        running: dict[UUID, InstanceFact] = {}
        after: UUID | None = None
        while True:
            page = await self._instance_facts(
                GetInstanceFacts(running_page=True, running_after=after)
            )
            running |= {fact.instance_id: fact for fact in page}
            if len(page) < FACTS_BATCH:
                return running
            after = page[-1].instance_id

    async def _facts(self, ids: list[UUID]) -> dict[UUID, InstanceFact]:
        found: dict[UUID, InstanceFact] = {}
        for batch in _batches(ids, FACTS_BATCH):
            answer = await self._instance_facts(GetInstanceFacts(instance_ids=batch))
            found |= {fact.instance_id: fact for fact in answer}
        return found

    async def _machines(self, ids: list[UUID]) -> list[MachineActivity]:
        """Where the running ones' agents answer (the provisioner's ``rpc.instance.activity``)."""
        found: list[MachineActivity] = []
        for batch in _batches(ids, self.settings.provider_batch):
            query = GetMachineActivity(instance_ids=batch)
            try:
                answer = await request(
                    self.broker, query, timeout=self.settings.provider_timeout_seconds
                )
            except UnavailableError:
                raise UnavailableError(
                    f"the provisioner did not answer {query.subject} in time"
                ) from None
            found += [m for m in answer.items if m.status is S.RUNNING and not m.frozen]
        return found

    async def _open_on_stopped(
        self,
        following: dict[UUID, datetime],
        frozen: dict[UUID, datetime],
        running: dict[UUID, InstanceFact],
        fix: bool,
    ) -> Finding:
        facts = await self._facts([i for i in [*following, *frozen] if i not in running])
        stopped: dict[UUID, tuple[S, S, datetime]] = {}
        for followed_as, rows in ((S.RUNNING, following), (S.FROZEN, frozen)):
            for instance_id, seen_at in rows.items():
                fact = facts.get(instance_id)
                status = fact.status if fact else (S.RUNNING if instance_id in running else None)
                if status not in _STILL_UP[followed_as]:
                    found = status or S.DESTROYED
                    stopped[instance_id] = (followed_as, found, seen_at)
        fixed = 0
        if fix:
            for instance_id, (followed_as, status, seen_at) in stopped.items():
                fixed += await self._stop_following(instance_id, followed_as, status, seen_at)
        return finding(
            DriftKind.USAGE_OPEN_ON_STOPPED,
            stopped,
            fixable=True,
            fixed=fixed,
            detail="fix records the provisioner's status (metering stops)",
        )

    async def _stop_following(
        self, instance_id: UUID, followed_as: S, status: S, seen_at: datetime
    ) -> int:
        """Record ``status`` unless an event moved the row since it was read (that one wins)."""
        async with self.db.transaction() as session:
            repo = ActivityRepository(session)
            row = await repo.get(instance_id, for_update=True)
            if row is None or row.status is not followed_as or row.status_at != seen_at:
                return 0
            await repo.apply([(instance_id, {"status": status, "frozen_at": None})])
        log.warning("activity.usage_closed", instance_id=str(instance_id), status=status.value)
        return 1

    async def _not_metered(
        self,
        running: dict[UUID, InstanceFact],
        following: dict[UUID, datetime],
        known: set[UUID],
        fix: bool,
    ) -> Finding:
        unknown = [f for i, f in running.items() if i not in known]
        stale = [i for i in running if i in known and i not in following]
        fixed = 0
        if fix and unknown:
            found = [RunningInstance(id=f.instance_id, user_id=f.user_id) for f in unknown]
            async with self.db.transaction() as session:
                fixed = await ActivityService(session, self.policy).seed(found, self.clock.now())
        return finding(
            DriftKind.RUNNING_NOT_METERED,
            [*(f.instance_id for f in unknown), *stale],
            fixable=True,
            fixed=fixed,
            detail="fix follows the ones activity never heard of (as its resync does)",
        )

    async def _agents(self, running: list[InstanceFact]) -> Finding:
        """Ask each running instance's agent now, where the provisioner says it answers."""
        machines = await self._machines([f.instance_id for f in running])
        agents = AgentClient(
            timeout=self.settings.agent_timeout_seconds,
            concurrency=self.settings.agent_concurrency,
        )
        try:
            answers = await asyncio.gather(*(_answers(agents, m) for m in machines))
        finally:
            await agents.close()
        silent = [m.instance_id for m, ok in zip(machines, answers, strict=True) if not ok]
        return finding(
            DriftKind.AGENT_NOT_ANSWERING,
            silent,
            detail="not fixable here: the instance's agent or machine needs a look (or a wake)",
        )


async def _answers(agents: AgentClient, machine: MachineActivity) -> bool:
    if machine.host is None or machine.agent_secret is None:
        return False
    try:
        await agents.report(machine.host, machine.agent_secret)
    except AgentUnreachable:
        return False
    return True


def _batches(ids: Iterable[UUID], size: int) -> list[list[UUID]]:
    listed = list(ids)
    return [listed[start : start + size] for start in range(0, len(listed), size)]


def register_check(broker: NatsBroker, check: ActivityCheck) -> None:
    """Answer ``rpc.ops.check.activity``."""

    @rpc_subscriber(broker, CheckActivity, settings=check.settings)
    @rpc_reply
    async def on_check(query: CheckActivity) -> CheckReport:
        """What activity meters against what runs, and the running agents (``fix``: follow)."""
        return await check.run(fix=query.fix)
