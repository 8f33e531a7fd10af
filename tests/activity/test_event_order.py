"""Lifecycle events handled out of order (the activity service handles many at once, and a
redelivery comes late): the newest says what the instance is, whichever arrives first."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from activity.app import policy_of
from activity.service import ActivityService
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.instances import (
    InstanceDestroyed,
    InstanceEvent,
    InstanceRunning,
    InstanceStatus,
)
from tests.activity.conftest import Platform, PlatformFactory


async def apply(p: Platform, event: InstanceEvent) -> None:
    replica = p.replicas[0]
    async with replica.parts.db.transaction() as session:
        service = ActivityService(session, policy_of(replica.settings))
        await service.apply_event(event, p.clock.now())


async def test_a_create_handled_after_the_destroy_that_followed_it_starts_no_run(
    platform: PlatformFactory,
) -> None:
    # Found by make chaos: a whole lifecycle in half a second, its events handled at once, the
    # destroy first; the create after it opened a run that metered a destroyed instance.
    async with platform() as p:
        instance, user, created_at = uuid4(), uuid4(), utcnow()
        common = {"instance_id": instance, "user_id": user}
        destroyed = InstanceDestroyed(
            status=InstanceStatus.DESTROYED, occurred_at=created_at + timedelta(seconds=1), **common
        )
        running = InstanceRunning(status=InstanceStatus.RUNNING, occurred_at=created_at, **common)
        await apply(p, destroyed)
        await apply(p, running)

        view = await p.view(instance)
        assert view is not None
        assert view.status is InstanceStatus.DESTROYED
        assert view.deadline_at is None  # not followed: no idle deadline, no usage, no pause
