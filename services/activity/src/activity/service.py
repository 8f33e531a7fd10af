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
from uuid import UUID, uuid5

from claudecloud_common.contracts.activity import (
    ActivityView,
    InstanceRecovered,
    InstanceUnhealthy,
    UsageSample,
)
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.instances import (
    InstanceEvent,
    InstancePaused,
    InstanceStatus,
    PauseInstance,
    RunningInstance,
)
from claudecloud_common.db import AsyncSession
from claudecloud_common.inbox import already_processed, mark_processed
from claudecloud_common.logging import get_logger
from claudecloud_common.outbox import add_to_outbox

from .errors import ActivityNotFound
from .models import InstanceActivity
from .repository import ActivityRepository
from .rules import Observation, Outcome, Policy, Verdict, decide

log = get_logger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NAMESPACE = UUID("0b7e3c52-6a0d-4d8e-9f5e-3c1f7a9d2b64")
EVENTS_CONSUMER = "activity.instance-events"
S = InstanceStatus
_STARTS = {"instance.running", "instance.woken"}
_STOPS = frozenset({S.PAUSED, S.DESTROYED, S.FAILED})


def derived_id(kind: str, instance_id: UUID, key: object) -> UUID:
    return uuid5(NAMESPACE, f"{kind}:{instance_id}:{key}")


@dataclass
class PollSummary:
    """What one batch of polls decided, for the metrics."""

    verdicts: Counter[tuple[str, str]] = field(default_factory=Counter)
    unhealthy: Counter[str] = field(default_factory=Counter)
    samples: int = 0
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
        if event.type in _STARTS:
            self._start(row, event.instance_id, event.user_id, event.occurred_at, now, event.type)
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
        deadline = now + self.policy.idle_threshold
        fresh = InstanceActivity(
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
        text = f"running ({started}); pauses when idle after {deadline:%Y-%m-%d %H:%M:%S} UTC"
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
            changes.append((row.instance_id, outcome.changes))
            self._effects(row, outcome, now, interval, summary)
        await self.repo.apply(changes)
        await self.flush()
        return summary

    def _effects(
        self, row: InstanceActivity, out: Outcome, now: datetime, interval: int, sums: PollSummary
    ) -> None:
        common = {"user_id": row.user_id, "instance_id": row.instance_id}
        for verdict in out.verdicts:
            self._record(row.instance_id, now, verdict, interval)
            sums.verdicts[(verdict.decision, verdict.reason)] += 1
        if out.usage_seconds > 0:
            sample_id = derived_id("usage", row.instance_id, interval)
            sample = UsageSample(
                id=sample_id, sample_id=sample_id, seconds=out.usage_seconds, **common
            )
            add_to_outbox(self.session, sample)
            sums.samples += 1
        if out.unhealthy is not None:
            condition, detail = out.unhealthy
            failed = int(out.changes.get("failed_polls", 0))
            event_id = derived_id(f"unhealthy.{condition.value}", row.instance_id, interval)
            add_to_outbox(
                self.session,
                InstanceUnhealthy(
                    id=event_id, condition=condition, detail=detail, failed_polls=failed, **common
                ),
            )
            sums.unhealthy[condition.value] += 1
            log.warning(
                "activity.unhealthy",
                instance_id=str(row.instance_id),
                condition=condition.value,
                detail=detail,
            )
        if out.recovered is not None:
            event_id = derived_id(f"recovered.{out.recovered.value}", row.instance_id, interval)
            add_to_outbox(
                self.session, InstanceRecovered(id=event_id, condition=out.recovered, **common)
            )
            log.info(
                "activity.recovered",
                instance_id=str(row.instance_id),
                condition=out.recovered.value,
            )
        if out.pause is not None:
            # One pause per run, whoever sends it and however often: the provisioner's inbox
            # makes a repeated command id a no-op.
            command_id = derived_id("pause", row.instance_id, row.run_started_at.isoformat())
            add_to_outbox(
                self.session,
                PauseInstance(id=command_id, instance_id=row.instance_id, reason=out.pause),
            )
            sums.pauses += 1
            log.info("activity.pause", instance_id=str(row.instance_id), reason=out.pause.value)

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
        running = row.status is S.RUNNING
        return ActivityView(
            instance_id=row.instance_id,
            user_id=row.user_id,
            status=row.status,
            condition=row.condition,
            condition_detail=row.condition_detail,
            deadline_at=row.deadline_at if running else None,
            max_lifetime_at=row.last_human_input_at + self.policy.max_lifetime if running else None,
            last_activity_at=row.last_activity_at,
            last_activity_reason=row.last_activity_reason,
            last_human_input_at=row.last_human_input_at,
            last_polled_at=row.last_polled_at,
            failed_polls=row.failed_polls,
            processes=row.processes,
            cpu_seconds=row.cpu_seconds,
            decisions=[d.view() for d in await self.repo.decisions(instance_id, decisions)],
        )
