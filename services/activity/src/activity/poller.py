"""The timer: every interval, poll each running instance's provider and agent, then decide.

Ticks fall on multiples of the interval since the epoch, so every replica ticks at the same
moments and names the interval alike. A tick claims due instances in chunks (a chunk is moved to
the next interval in the same statement, skipping rows another replica is claiming): replicas
share a tick's polls, and no instance is polled twice in one interval. A replica that dies
mid-chunk leaves those instances for the next interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from faststream.nats import NatsBroker

from claudecloud_common.contracts.instances import (
    GetMachineActivity,
    HostMemory,
    InstanceStatus,
    ListRunning,
    MachineActivity,
    MachineActivityList,
)
from claudecloud_common.contracts.providers import capabilities
from claudecloud_common.db import Database
from claudecloud_common.errors import AppError
from claudecloud_common.logging import get_logger
from claudecloud_common.rpc import request

from .agents import AgentClient, AgentUnreachable
from .clock import Clock
from .metrics import (
    ACTIVE,
    DECISIONS,
    INSTANCES,
    POLL_SECONDS,
    POLLS_FAILED,
    UNHEALTHY,
    USAGE_SAMPLES,
)
from .models import InstanceActivity
from .rules import Observation, Policy
from .service import ActivityService, PollSummary
from .settings import ActivitySettings

log = get_logger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RESYNC_PAGE = 1000


@dataclass(frozen=True)
class TickReport:
    """What one tick did (the benchmark and the logs read it)."""

    interval: int
    polled: int
    seconds: float
    cpu_seconds: float


class Poller:
    def __init__(
        self,
        settings: ActivitySettings,
        db: Database,
        broker: NatsBroker,
        agents: AgentClient,
        clock: Clock,
        policy: Policy,
    ) -> None:
        self.settings = settings
        self.db = db
        self.broker = broker
        self.agents = agents
        self.clock = clock
        self.policy = policy
        self._task: asyncio.Task[None] | None = None
        self._resync: asyncio.Task[None] | None = None
        self._last_resync: datetime | None = None
        self.ticks: list[TickReport] = []
        self._ticked = asyncio.Condition()
        self._host_memory: HostMemory | None = None
        """The shared host's memory as the provisioner said during the current tick."""

    # The loop

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="activity-poller")

    async def stop(self) -> None:
        for task in (self._task, self._resync):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.agents.close()

    def interval_of(self, moment: datetime) -> int:
        return int((moment - EPOCH).total_seconds() // self.policy.interval.total_seconds())

    def start_of(self, interval: int) -> datetime:
        return EPOCH + interval * self.policy.interval

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:  # the bus or the database is down: the next tick retries
                log.warning("activity.tick_failed", error=f"{type(exc).__name__}: {exc}")
            await self.clock.sleep_until(self.start_of(self.interval_of(self.clock.now()) + 1))

    async def tick(self) -> TickReport:
        """Poll every instance due now; decide and record about each."""
        now = self.clock.now()
        self._resync_if_due(now)
        started, cpu = time.perf_counter(), time.process_time()
        interval = self.interval_of(now)
        self._host_memory = None
        workers = [
            self._claim_and_poll(now, interval) for _ in range(self.settings.provider_concurrency)
        ]
        polled = sum(await asyncio.gather(*workers))
        await self._relieve_memory(now, interval)
        elapsed = time.perf_counter() - started
        POLL_SECONDS.observe(elapsed)
        await self._housekeeping(now)
        report = TickReport(interval, polled, elapsed, time.process_time() - cpu)
        async with self._ticked:
            self.ticks.append(report)
            self._ticked.notify_all()
        if polled:
            log.info("activity.polled", instances=polled, seconds=round(elapsed, 3))
        return report

    async def wait_for_ticks(self, count: int) -> TickReport:
        """Return once ``count`` ticks have finished (benchmarks and tests wait on this)."""
        async with self._ticked:
            await self._ticked.wait_for(lambda: len(self.ticks) >= count)
            return self.ticks[count - 1]

    def _resync_if_due(self, now: datetime) -> None:
        """Start a resync beside the polls (a slow provisioner never delays a tick)."""
        every = timedelta(seconds=self.settings.resync_seconds)
        due = self._last_resync is None or now - self._last_resync >= every
        if due and (self._resync is None or self._resync.done()):
            self._resync = asyncio.create_task(self._resync_logged(now), name="activity-resync")

    async def _resync_logged(self, now: datetime) -> None:
        try:
            await self.resync(now)
        except Exception as exc:  # the database is down: tried again at the next tick
            log.warning("activity.resync_failed", error=f"{type(exc).__name__}: {exc}")

    async def resync(self, now: datetime) -> None:
        """Follow running instances no event told us about (first deploy, a lost database)."""
        added, after = 0, None
        while True:
            try:
                page = await request(
                    self.broker,
                    ListRunning(after=after, limit=RESYNC_PAGE),
                    timeout=self.settings.provider_timeout_seconds,
                )
            except AppError as exc:  # tried again at the next tick
                log.warning("activity.resync_failed", error=exc.detail)
                return
            items = page.items
            async with self.db.transaction() as session:
                added += await ActivityService(session, self.policy).seed(items, now)
            if len(items) < RESYNC_PAGE:
                break
            after = items[-1].id
        self._last_resync = now
        if added:
            log.info("activity.resynced", added=added)

    async def _claim_and_poll(self, now: datetime, interval: int) -> int:
        polled = 0
        while True:
            async with self.db.transaction() as session:
                rows = await ActivityService(session, self.policy).repo.claim_due(
                    now,
                    stale_pause_before=now - 2 * self.policy.interval,
                    next_poll_at=self.start_of(interval + 1),
                    interval=interval,
                    limit=self.settings.provider_batch,
                )
            if not rows:
                return polled
            seen = await self._observe(rows)
            async with self.db.transaction() as session:
                summary = await ActivityService(session, self.policy).record_polls(
                    list(zip(rows, seen, strict=True)), now, interval
                )
            _count(summary)
            polled += len(rows)

    async def _observe(self, rows: list[InstanceActivity]) -> list[Observation]:
        found = await self._machines([row.instance_id for row in rows])
        if found is None:
            return [Observation(None, None, "the provisioner did not answer") for _ in rows]
        if found.host_memory is not None:
            self._host_memory = found.host_memory
        keeps = found.provider is not None and capabilities(found.provider).keeps_memory
        machines = {item.instance_id: item for item in found.items}
        asked = (self._agent(machines.get(r.instance_id), keeps) for r in rows)
        return list(await asyncio.gather(*asked))

    async def _machines(self, ids: list[UUID]) -> MachineActivityList | None:
        """The provider's view, or None when the provisioner did not answer (then the agent
        cannot be reached either: its address comes with this answer)."""
        try:
            return await request(
                self.broker,
                GetMachineActivity(instance_ids=ids),
                timeout=self.settings.provider_timeout_seconds,
            )
        except AppError as exc:
            POLLS_FAILED.labels("provider").inc(len(ids))
            log.warning("activity.provider_unanswered", instances=len(ids), error=exc.detail)
            return None

    async def _agent(self, machine: MachineActivity | None, keeps: bool) -> Observation:
        if machine is None:
            return Observation(None, None, "the provisioner did not answer", keeps)
        if machine.status is InstanceStatus.FROZEN or machine.frozen:
            return Observation(machine, None, "frozen: nothing in it can answer", keeps)
        if machine.host is None or machine.agent_secret is None:
            return Observation(machine, None, "the instance has no agent address", keeps)
        try:
            report = await self.agents.report(machine.host, machine.agent_secret)
        except AgentUnreachable as exc:
            POLLS_FAILED.labels("agent").inc()
            return Observation(machine, None, str(exc), keeps)
        return Observation(machine, report, keeps_memory=keeps)

    async def _relieve_memory(self, now: datetime, interval: int) -> None:
        """Under host memory pressure, stop the longest-frozen (after the polls: their memory
        is as fresh as it gets)."""
        host = self._host_memory
        if host is None or host.available_bytes >= self.policy.min_available_bytes:
            return
        async with self.db.transaction() as session:
            stopped = await ActivityService(session, self.policy).relieve_memory(
                host, now, interval
            )
        DECISIONS.labels("stop", "host_memory").inc(stopped)

    async def _housekeeping(self, now: datetime) -> None:
        retention = timedelta(hours=self.settings.decision_retention_hours)
        async with self.db.transaction() as session:
            service = ActivityService(session, self.policy)
            await service.forget_old(now, retention)
            groups, active = await service.repo.counts(now - self.policy.interval)
        INSTANCES.clear()
        for status, condition, count in groups:
            INSTANCES.labels(status, condition).set(count)
        ACTIVE.set(active)


def _count(summary: PollSummary) -> None:
    for (decision, reason), n in summary.verdicts.items():
        DECISIONS.labels(decision, reason).inc(n)
    for condition, n in summary.unhealthy.items():
        UNHEALTHY.labels(condition).inc(n)
    for kind, n in summary.samples.items():
        USAGE_SAMPLES.labels(kind).inc(n)
