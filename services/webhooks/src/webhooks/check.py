"""The webhooks service's part of the reconciliation check: deliveries long past due (no replica
is sending: its deliverer is stuck or the service is down), and its outbox's backlog."""

from __future__ import annotations

from datetime import timedelta

from faststream.nats import NatsBroker

from claudecloud_common.checks import finding, outbox_backlog
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.ops import SAMPLES, CheckReport, CheckWebhooks, DriftKind
from claudecloud_common.db import Database
from claudecloud_common.rpc import rpc_reply, rpc_subscriber

from .delivery import LEASE_MARGIN_SECONDS
from .repository import DeliveryRepository
from .settings import WebhooksSettings

__all__ = ["WebhooksCheck", "register_check"]


class WebhooksCheck:
    def __init__(self, db: Database, settings: WebhooksSettings) -> None:
        self.db = db
        self.settings = settings

    @property
    def late(self) -> timedelta:
        """How late a pending delivery may be before it counts: a lease and a few polls."""
        s = self.settings
        return timedelta(seconds=s.timeout_seconds + LEASE_MARGIN_SECONDS + 5 * s.poll_seconds)

    async def run(self) -> CheckReport:
        async with self.db.read() as session:
            count, ids = await DeliveryRepository(session).overdue(
                utcnow() - self.late, samples=SAMPLES
            )
            backlog = await outbox_backlog(session, self.settings)
        found = finding(DriftKind.WEBHOOK_DELIVERY_OVERDUE, ids, detail="is the service up?")
        return CheckReport(
            service="webhooks",
            findings=[found.model_copy(update={"count": count})],
            outbox=backlog,
        )


def register_check(broker: NatsBroker, check: WebhooksCheck) -> None:
    """Answer ``rpc.ops.check.webhooks``."""

    @rpc_subscriber(broker, CheckWebhooks, settings=check.settings)
    @rpc_reply
    async def on_check(query: CheckWebhooks) -> CheckReport:
        """Deliveries long past due (nothing here is safe to fix: they are sent when a replica
        runs)."""
        return await check.run()
