"""The activity service's bus edge: the lifecycle events it follows and the query it answers."""

from __future__ import annotations

from faststream.nats import NatsBroker

from claudecloud_common.bus import event_subscriber
from claudecloud_common.contracts.activity import ActivityView, GetActivity
from claudecloud_common.contracts.instances import AnyInstanceEvent, InstanceSubject
from claudecloud_common.db import Database
from claudecloud_common.logging import bind_correlation
from claudecloud_common.rpc import rpc_reply, rpc_subscriber

from .clock import Clock
from .rules import Policy
from .service import ActivityService
from .settings import ActivitySettings


def register(
    broker: NatsBroker, db: Database, policy: Policy, clock: Clock, settings: ActivitySettings
) -> None:
    """Attach the activity service's subscribers to ``broker``."""

    @event_subscriber(broker, InstanceSubject.ALL_EVENTS, settings=settings)
    async def on_instance_event(event: AnyInstanceEvent) -> None:
        """Follow which instances run: a create or wake starts a run, anything else ends it."""
        with bind_correlation(event.correlation_id, instance_id=str(event.instance_id)):
            async with db.transaction() as session:
                await ActivityService(session, policy).apply_event(event, clock.now())

    @rpc_subscriber(broker, GetActivity, settings=settings)
    @rpc_reply
    async def on_get(query: GetActivity) -> ActivityView:
        """An instance's deadline, condition and latest decisions: why it runs or why it stopped."""
        async with db.read() as session:
            return await ActivityService(session, policy).view(query.instance_id, query.decisions)
