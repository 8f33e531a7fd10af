"""The provisioner's metrics on ``/metrics``: live instances by status and condition, from its own
table. No user or instance ids in labels."""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import Counter, Gauge, Histogram

from claudecloud_common.background import BackgroundTask
from claudecloud_common.contracts.instances import LIVE_STATUSES
from claudecloud_common.db import Database, Written
from claudecloud_common.logging import describe_error, get_logger

from .repository import InstanceRepository

__all__ = [
    "INSTANCES",
    "POOL_CLAIMS",
    "POOL_MISSES",
    "POOL_REFILL_SECONDS",
    "POOL_SLOTS",
    "InstanceCounts",
]

log = get_logger(__name__)

INSTANCES = Gauge(
    "claudecloud_instances",
    "Live instances (neither destroyed nor failed) by status and health condition (none when "
    "well), as the provisioner's table has them.",
    ["status", "condition"],
)
POOL_SLOTS = Gauge(
    "claudecloud_pool_slots",
    "The warm pool's slots of the current image by state (ready: a create can claim one now).",
    ["state"],
)
POOL_CLAIMS = Counter(
    "claudecloud_pool_claims_total", "Creates that claimed a ready warm pool slot."
)
POOL_MISSES = Counter(
    "claudecloud_pool_misses_total",
    "Creates that found the warm pool empty (or could not use it) and made a machine anew.",
)
POOL_REFILL_SECONDS = Histogram(
    "claudecloud_pool_refill_seconds",
    "Time to start one warm pool slot until its agent answers.",
    buckets=(0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
)
REFRESH_SECONDS = 15.0
"""Counted at least this often (another replica's transitions commit elsewhere)."""
SETTLE_SECONDS = 1.0
"""Counted at most this often: a burst of transitions is one count."""
QUERY_SECONDS = 5.0
"""How long a count may take before it is given up until the next one."""


class InstanceCounts(BackgroundTask):
    """Keeps :data:`INSTANCES` current: counted again shortly after this process commits a
    change, and every :data:`REFRESH_SECONDS` anyway; a scrape never waits on the database."""

    name = "instance-counts"

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db
        self._changed = asyncio.Event()
        db.on_commit(self._committed)

    def _committed(self, _written: Written) -> None:
        self._changed.set()

    async def run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(SETTLE_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), REFRESH_SECONDS - SETTLE_SECONDS)
            self._changed.clear()

    async def refresh(self) -> None:
        """Count the live instances once and publish the figures."""
        try:
            async with asyncio.timeout(QUERY_SECONDS), self.db.read() as session:
                counts = await InstanceRepository(session).count_live()
        except Exception as exc:  # the database is down: keep the last figures
            log.warning("instance.count_failed", error=describe_error(exc))
            return
        INSTANCES.clear()  # no await from here on: a scrape sees the old figures or the new
        for status in LIVE_STATUSES:
            INSTANCES.labels(str(status), "none").set(0)
        for (status, condition), count in counts.items():
            INSTANCES.labels(str(status), condition or "none").set(count)
