"""What activity knows and decides. Never commits: the handler or the poller that calls it owns
the transaction, and everything it sends goes through the outbox in that same transaction.

Ids are derived, not drawn: a decision, a usage sample and a pause are named by the instance and
the interval (or the run) they are about, so a second replica or a retried poll can only repeat
them, never double them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from claudecloud_common.contracts.activity import ActivityView, UsageKind
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.instances import (
    HostMemory,
    InstanceEvent,
    InstanceFrozen,
    InstancePaused,
    InstanceStatus,
    PauseReason,
    RunningInstance,
)
from claudecloud_common.db import AsyncSession
from claudecloud_common.inbox import already_processed, mark_processed
from claudecloud_common.logging import get_logger
from claudecloud_common.outbox import add_to_outbox

from . import events, spend
from .errors import ActivityNotFound
from .events import derived_id
from .models import InstanceActivity, MemoryRelief
from .repository import ActivityRepository
from .rules import (
    MAX_SAMPLE_SECONDS,
    Observation,
    Outcome,
    Pause,
    Policy,
    Verdict,
    at,
    decide,
    relieve,
)

log = get_logger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RELIEF_CANDIDATES = 500
"""The longest-frozen instances looked at per memory relief (the rest wait for the next poll)."""
EVENTS_CONSUMER = "activity.instance-events"
S = InstanceStatus
_STARTS = {"instance.running", "instance.woken"}
_STOPS = frozenset({S.PAUSED, S.DESTROYED, S.FAILED})
_KEPT_ACROSS_RUNS = (
    "keeps_memory",
    "agent_boot_id",
    "agent_inputs",
    "tmux_input_at",
    "agent_turns_started",
    "agent_turns_ended",
    "claude_spend_seen",
)
"""What a new run keeps of the last: its provider's capability, and the agent's counters as last
read. A thawed agent is the same process, its counters go on (what it counted before the freeze
is not new activity); a restarted one has a new boot id, and counts from zero anyway."""


@dataclass
class PollSummary:
    """What one batch of polls decided, for the metrics."""

    verdicts: Counter[tuple[str, str]] = field(default_factory=Counter)
    unhealthy: Counter[str] = field(default_factory=Counter)
    samples: Counter[str] = field(default_factory=Counter)
    """Usage samples sent, by kind (running, frozen)."""
    pauses: int = 0


class ActivityService:
    def __init__(self, session: AsyncSession, policy: Policy) -> None:
        self.session = session
        self.repo = ActivityRepository(session)
        self.policy = policy
        self._pending_decisions: list[dict[str, Any]] = []

    # What runs

    async def apply_event(self, event: InstanceEvent, now: datetime) -> None:
        """Follow an instance's lifecycle; a start (create or wake) begins a fresh run."""
        if await already_processed(self.session, event.id, EVENTS_CONSUMER):
            return
        mark_processed(self.session, event.id, EVENTS_CONSUMER)
        row = await self.repo.get(event.instance_id, for_update=True)
        if row is not None and row.status_at > event.occurred_at:
            return  # an older event, delivered late
        if row is not None and row.frozen_at is not None and event.status is not S.FROZEN:
            self._thawed_or_stopped(row, event, now)
        if event.type in _STARTS:
            self._start(row, event.instance_id, event.user_id, event.occurred_at, now, event.type)
        elif isinstance(event, InstanceFrozen) and row is not None:
            self._freeze(row, event, now)
        elif row is not None:
            self._stop(row, event, now)
        elif event.status in _STOPS:
            # A stop before any start of it: events are handled concurrently, so the start it
            # ends may still come. Kept (as of the stop), that older start cannot open a run.
            self._stopped_unseen(event, now)
        await self.flush()

    def _stopped_unseen(self, event: InstanceEvent, now: datetime) -> None:
        self.repo.add(
            InstanceActivity(
                instance_id=event.instance_id,
                user_id=event.user_id,
                status=event.status,
                status_at=event.occurred_at,
                run_started_at=now,
                next_poll_at=now,
                last_activity_at=now,
                last_activity_reason=event.status.value,
                last_human_input_at=now,
                deadline_at=now,
            )
        )

    def _stop(self, row: InstanceActivity, event: InstanceEvent, now: datetime) -> None:
        row.status, row.status_at = event.status, event.occurred_at
        if event.status in (S.PAUSED, S.DESTROYED, S.FAILED):
            row.condition = row.condition_detail = row.condition_since = None
            reason = event.reason if isinstance(event, InstancePaused) else event.status.value
            text = f"{event.status.value} ({reason})" if event.status is S.PAUSED else reason
            self._record(row.instance_id, now, Verdict("stopped", str(reason), text), event.id)
        self.repo.add(row)

    def _freeze(self, row: InstanceActivity, event: InstanceFrozen, now: datetime) -> None:
        """Frozen: its agent is no longer asked, its frozen time is metered from now, and it is
        stopped once frozen for the stop setting (unless woken before)."""
        if row.status is not S.FROZEN or row.frozen_at is None:
            row.frozen_at = row.frozen_metered_until = now  # a poll may have seen it first
        row.status, row.status_at = S.FROZEN, event.occurred_at
        self.repo.add(row)
        stops_at = row.frozen_at + self.policy.stop_after
        text = (
            f"frozen ({event.reason.value}): memory and every process kept, nothing runs; "
            f"stops at {at(stops_at)} unless woken"
        )
        self._record(row.instance_id, now, Verdict("frozen", event.reason.value, text), event.id)

    def _thawed_or_stopped(
        self, row: InstanceActivity, event: InstanceEvent, now: datetime
    ) -> None:
        """A frozen stretch ends (woken, stopped, destroyed): its last frozen time is metered."""
        if event.type not in _STARTS and event.status not in _STOPS:
            return  # under way (pausing, waking): still frozen
        assert row.frozen_at is not None
        metered = row.frozen_metered_until or row.frozen_at
        seconds = min((now - metered).total_seconds(), MAX_SAMPLE_SECONDS)
        if seconds > 0:
            end = f"end:{row.frozen_at.isoformat()}"
            add_to_outbox(self.session, events.usage(row, UsageKind.FROZEN, seconds, end))
        row.frozen_at = row.frozen_metered_until = None

    async def seed(self, running: list[RunningInstance], now: datetime) -> int:
        """Start following running instances we have never heard of (first deploy, lost state)."""
        known = await self.repo.known_ids([found.id for found in running])
        new = [found for found in running if found.id not in known]
        for found in new:
            # As old as any event: a late event about this instance still counts.
            self._start(None, found.id, found.user_id, EPOCH, now, "instance.seen")
        await self.flush()
        return len(new)

    def _start(
        self,
        row: InstanceActivity | None,
        instance_id: UUID,
        user_id: UUID,
        status_at: datetime,
        now: datetime,
        how: str,
    ) -> None:
        kept = {name: getattr(row, name) for name in _KEPT_ACROSS_RUNS} if row else {}
        keeps = kept.get("keeps_memory")
        deadline = now + self.policy.idle_after(keeps is not False)
        fresh = InstanceActivity(
            **kept,
            instance_id=instance_id,
            user_id=user_id,
            status=S.RUNNING,
            status_at=status_at,
            run_started_at=now,
            next_poll_at=now,
            last_activity_at=now,
            last_activity_reason="started",
            last_human_input_at=now,
            deadline_at=deadline,
        )
        if row is None:
            row = fresh
        else:
            for name, value in fresh.model_dump().items():
                setattr(row, name, value)
        self.repo.add(row)
        started = {"instance.running": "created", "instance.woken": "woken"}.get(how, "found")
        text = f"running ({started}); {_first_step(keeps)} when idle after {at(deadline)}"
        self._record(instance_id, now, Verdict("started", started, text, deadline), now)

    # Polls

    async def record_polls(
        self, polled: list[tuple[InstanceActivity, Observation]], now: datetime, interval: int
    ) -> PollSummary:
        """Decide about each polled instance and write it all down: rows, decisions, samples,
        pauses and health events."""
        summary = PollSummary()
        changes: list[tuple[UUID, dict[str, Any]]] = []
        for row, seen in polled:
            outcome = decide(row, seen, now, self.policy)
            self._claude_spend(row, seen, outcome, interval)
            changes.append((row.instance_id, outcome.changes))
            self._effects(row, outcome, now, interval, summary)
        await self.repo.apply(changes)
        await self.flush()
        return summary

    def _effects(
        self, row: InstanceActivity, out: Outcome, now: datetime, interval: int, sums: PollSummary
    ) -> None:
        for verdict in out.verdicts:
            self._record(row.instance_id, now, verdict, interval)
            sums.verdicts[(verdict.decision, verdict.reason)] += 1
        for kind, seconds in (
            (UsageKind.RUNNING, out.usage_seconds),
            (UsageKind.FROZEN, out.frozen_seconds),
        ):
            if seconds > 0:
                add_to_outbox(self.session, events.usage(row, kind, seconds, interval))
                sums.samples[kind] += 1
        if out.unhealthy is not None:
            condition, detail = out.unhealthy
            failed = int(out.changes.get("failed_polls", 0))
            add_to_outbox(self.session, events.unhealthy(row, condition, detail, failed, interval))
            sums.unhealthy[condition.value] += 1
            log.warning(
                "activity.unhealthy",
                instance_id=str(row.instance_id),
                condition=condition.value,
                detail=detail,
            )
        if out.recovered is not None:
            add_to_outbox(self.session, events.recovered(row, out.recovered, interval))
            log.info(
                "activity.recovered",
                instance_id=str(row.instance_id),
                condition=out.recovered.value,
            )
        if out.pause is not None:
            frozen_at = out.changes.get("frozen_at", row.frozen_at)
            self._send_pause(row, out.pause, frozen_at)
            sums.pauses += 1
        elif out.idle_warning is not None:
            add_to_outbox(self.session, events.idle_warning(row, out.idle_warning))

    def _claude_spend(
        self, row: InstanceActivity, seen: Observation, out: Outcome, interval: int
    ) -> None:
        """Send billing the days whose Claude totals grew since the last poll."""
        reported = seen.agent.claude_spend if seen.agent is not None else []
        grew, kept = spend.grown(row.claude_spend_seen, reported) if reported else ([], "")
        if grew:
            out.changes["claude_spend_seen"] = kept
            add_to_outbox(self.session, events.claude_spend(row, grew, interval))

    def _send_pause(self, row: InstanceActivity, pause: Pause, frozen_at: datetime | None) -> None:
        instance_id = row.instance_id
        command = events.pause_command(instance_id, pause, row.run_started_at, frozen_at)
        add_to_outbox(self.session, command)
        add_to_outbox(self.session, events.pause_audited(row.user_id, command))
        log.info(
            "activity.pause",
            instance_id=str(instance_id),
            reason=pause.reason.value,
            keep_memory=pause.keep_memory,
        )

    async def relieve_memory(self, host: HostMemory, now: datetime, interval: int) -> int:
        """Stop the longest-frozen instances while the host is short of memory, once per
        interval however many replicas tick; how many were stopped."""
        if self.policy.min_available_bytes <= host.available_bytes:
            return 0
        relief = MemoryRelief(
            interval=interval,
            decided_at=now,
            available_bytes=host.available_bytes,
            minimum_bytes=self.policy.min_available_bytes,
        )
        if not await self.repo.claim_relief(relief):
            return 0  # another replica relieved the host in this interval
        chosen = relieve(await self.repo.frozen_oldest_first(RELIEF_CANDIDATES), host, self.policy)
        for row, verdict in chosen:
            await self.repo.apply(
                [(row.instance_id, {"status": S.PAUSING, "pause_requested_at": now})]
            )
            self._record(row.instance_id, now, verdict, interval)
            stop = Pause(PauseReason.HOST_MEMORY, keep_memory=False)
            self._send_pause(row, stop, row.frozen_at or now)
        await self.repo.relief_done(interval, len(chosen))
        await self.flush()
        log.warning(
            "activity.host_memory_low",
            available_mb=host.available_bytes >> 20,
            minimum_mb=self.policy.min_available_bytes >> 20,
            stopped=len(chosen),
        )
        return len(chosen)

    def _record(self, instance_id: UUID, now: datetime, verdict: Verdict, key: object) -> None:
        self._pending_decisions.append(
            {
                "id": derived_id(f"decision.{verdict.decision}", instance_id, key),
                "instance_id": instance_id,
                "decided_at": now,
                "decision": verdict.decision,
                "reason": verdict.reason[:40],
                "detail": verdict.detail[:500],
                "deadline_at": verdict.deadline_at,
                "recorded_at": utcnow(),
            }
        )

    async def flush(self) -> None:
        """Write the decisions recorded so far (the same decision twice stays one row)."""
        await self.repo.record(self._pending_decisions)
        self._pending_decisions = []

    async def forget_old(self, now: datetime, retention: timedelta) -> None:
        await self.repo.forget_decisions(now - retention)

    # Reading

    async def view(self, instance_id: UUID, decisions: int) -> ActivityView:
        row = await self.repo.get(instance_id)
        if row is None:
            raise ActivityNotFound(f"no activity known for instance {instance_id}")
        running, frozen = row.status is S.RUNNING, row.status is S.FROZEN
        keeps = row.keeps_memory is not False
        return ActivityView(
            instance_id=row.instance_id,
            user_id=row.user_id,
            status=row.status,
            condition=row.condition,
            condition_detail=row.condition_detail,
            deadline_at=row.deadline_at if running else None,
            deadline_action=("freeze" if keeps else "stop") if running else None,
            max_lifetime_at=row.last_human_input_at + self.policy.max_lifetime if running else None,
            frozen_at=row.frozen_at if frozen else None,
            stops_at=row.frozen_at + self.policy.stop_after if frozen and row.frozen_at else None,
            memory_bytes=row.memory_bytes,
            last_activity_at=row.last_activity_at,
            last_activity_reason=row.last_activity_reason,
            last_human_input_at=row.last_human_input_at,
            last_polled_at=row.last_polled_at,
            failed_polls=row.failed_polls,
            processes=row.processes,
            cpu_seconds=row.cpu_seconds,
            decisions=[d.view() for d in await self.repo.decisions(instance_id, decisions)],
        )


def _first_step(keeps_memory: bool | None) -> str:
    if keeps_memory is None:  # not polled yet: its provider's capability comes with the poll
        return "freezes (stops, where its provider cannot keep memory)"
    return "freezes" if keeps_memory else "stops"
