"""The warm pool: slots the provisioner owns (rows), machines the provider keeps (a started
container each), and the keeper that fills, refills and renews them in the background.

A create claims a ready slot of the current image in its admission's transaction with a
compare-and-set (two creates never get one slot); the provider then makes the machine the user's.
Nothing here is ever on a create's path but the claim: refills happen after, in the keeper. A
slot made from an older image is replaced; one whose start failed or was interrupted is removed;
a claimed slot is its instance's for good (its volume is never anyone else's).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID, uuid4

from pydantic import SecretStr
from sqlalchemy import update
from sqlmodel import col, select

from claudecloud_common.background import Periodic
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.db import AsyncSession, Database
from claudecloud_common.logging import describe_error, get_logger

from .metrics import POOL_CLAIMS, POOL_MISSES, POOL_REFILL_SECONDS, POOL_SLOTS
from .models import PoolSlot, SlotState
from .providers import Machine, ProviderError, WarmPool

log = get_logger(__name__)

STARTING_FOR = timedelta(minutes=5)
"""A slot still starting after this was interrupted (a provisioner replica died mid-start)."""


class PoolRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, instance_id: UUID, image: str) -> PoolSlot | None:
        """Take the oldest ready slot of ``image`` for ``instance_id``: one compare-and-set
        update, so of two creates at once only one gets a given slot (the other gets the next,
        or None)."""
        oldest = (
            select(PoolSlot.id)
            .where(PoolSlot.state == SlotState.READY, PoolSlot.image == image)
            .order_by(col(PoolSlot.ready_at))
            .limit(1)
        )
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            oldest = oldest.with_for_update(skip_locked=True)
        statement = (
            update(PoolSlot)
            .where(col(PoolSlot.id) == oldest.scalar_subquery())
            .where(col(PoolSlot.state) == SlotState.READY)
            .values(state=SlotState.CLAIMED, instance_id=instance_id, claimed_at=utcnow())
            .returning(*PoolSlot.__table__.c)  # type: ignore[attr-defined]
        )
        row = (await connection.execute(statement)).first()
        return PoolSlot.model_construct(**row._mapping) if row is not None else None

    async def get(self, slot_id: UUID) -> PoolSlot | None:
        return await self.session.get(PoolSlot, slot_id)

    async def unclaimed(self) -> Sequence[PoolSlot]:
        query = select(PoolSlot).where(col(PoolSlot.state) != SlotState.CLAIMED)
        return (await self.session.exec(query)).all()

    async def owners(self, slot_ids: set[UUID]) -> dict[UUID, UUID | None]:
        """Each known slot's instance (None: not claimed yet); unknown slots are left out."""
        if not slot_ids:
            return {}
        query = select(PoolSlot.id, PoolSlot.instance_id).where(col(PoolSlot.id).in_(slot_ids))
        return {row[0]: row[1] for row in (await self.session.exec(query)).all()}

    def add(self, slot: PoolSlot) -> None:
        self.session.add(slot)

    async def ready(self, slot_id: UUID, machine: Machine) -> bool:
        """Record a started slot; False when its row is gone (found interrupted meanwhile)."""
        slot = await self.session.get(PoolSlot, slot_id)
        if slot is None or slot.state is not SlotState.STARTING:
            return False
        slot.state, slot.ready_at = SlotState.READY, utcnow()
        slot.provider_id, slot.host = machine.provider_id, machine.host
        self.session.add(slot)
        return True

    async def forget(self, slot_id: UUID) -> None:
        """Drop an unclaimed slot's row (its machine is removed first)."""
        slot = await self.session.get(PoolSlot, slot_id)
        if slot is not None and slot.state is not SlotState.CLAIMED:
            await self.session.delete(slot)


class PoolKeeper(Periodic):
    """Keeps ``size`` ready slots of the current image: replaces stale ones, removes failed
    ones, starts what is missing. Runs on a timer, and at once after a claim (``poke``)."""

    name = "warm-pool"
    failure_event = "pool.refill_failed"  # the engine or the database is away: next time

    def __init__(self, db: Database, pool: WarmPool, size: int, interval: float) -> None:
        super().__init__(interval if size > 0 else 0, at_start=True)
        self.db = db
        self.pool = pool
        self.size = size
        self.image: str | None = None
        """The image new machines are made from, as the provider said last (None: unknown)."""
        self._lock = asyncio.Lock()
        self._poked: set[asyncio.Task[None]] = set()
        self._starting: set[UUID] = set()
        """The slots this keeper is starting now."""
        self._since = utcnow()

    def poke(self) -> None:
        """Refill soon (a slot was just claimed): in the background, never on the caller's path."""
        if self.size > 0:
            task = asyncio.get_running_loop().create_task(self.tick())
            self._poked.add(task)
            task.add_done_callback(self._poked.discard)
            task.add_done_callback(_log_failure)

    async def start(self) -> None:
        """Know the current image before the first create can ask (refilling comes after)."""
        if self.size > 0:
            with contextlib.suppress(ProviderError):
                self.image = await self.pool.image_id()
        await super().start()

    async def stop(self) -> None:
        """Stop refilling; a slot being started is removed rather than left half made."""
        for task in list(self._poked):
            task.cancel()
        await asyncio.gather(*self._poked, return_exceptions=True)
        await super().stop()

    async def tick(self) -> None:
        async with self._lock:  # one refill at a time: the timer and a poke may meet
            self.image = await self.pool.image_id()
            async with self.db.read() as session:
                slots = list(await PoolRepository(session).unclaimed())
            for slot in slots:
                if slot.image != self.image:
                    await self._remove(slot.id, why="made from an older image")
                elif self._interrupted(slot):
                    await self._remove(slot.id, why="its start was interrupted")
            current = [s for s in slots if s.image == self.image and not self._interrupted(s)]
            POOL_SLOTS.labels("ready").set(sum(s.state is SlotState.READY for s in current))
            await asyncio.gather(*(self._start() for _ in range(self.size - len(current))))

    async def _start(self) -> None:
        assert self.image is not None
        slot = PoolSlot(
            id=uuid4(),
            state=SlotState.STARTING,
            image=self.image,
            secret=secrets.token_urlsafe(32),
        )
        async with self.db.transaction() as session:
            PoolRepository(session).add(slot)
        started = time.perf_counter()
        self._starting.add(slot.id)
        try:
            machine = await self.pool.start(slot.id, SecretStr(slot.secret))
        except ProviderError as exc:
            log.warning("pool.slot_failed", slot_id=str(slot.id), error=describe_error(exc))
            await self._remove(slot.id, why="failed")
            return
        except asyncio.CancelledError:  # stopping: no half-made slot is left for the next one
            with contextlib.suppress(Exception):
                await asyncio.shield(self._remove(slot.id, why="stopped while starting"))
            raise
        finally:
            self._starting.discard(slot.id)
        async with self.db.transaction() as session:
            recorded = await PoolRepository(session).ready(slot.id, machine)
        if not recorded:  # another replica found it interrupted: no container without a row
            await self._remove(slot.id, why="its row was removed while it started")
            return
        POOL_REFILL_SECONDS.observe(time.perf_counter() - started)
        log.info("pool.slot_ready", slot_id=str(slot.id))

    def _interrupted(self, slot: PoolSlot) -> bool:
        """A slot left starting by a provisioner that stopped or died: one this keeper is not
        starting and that was begun before it ran (a restart: at once, not after
        ``STARTING_FOR``, so the pool fills again right away), or one starting for too long
        (another replica that died)."""
        if slot.state is not SlotState.STARTING or slot.id in self._starting:
            return False
        return slot.created_at < self._since or utcnow() - slot.created_at > STARTING_FOR

    async def _remove(self, slot_id: UUID, *, why: str) -> None:
        await self.pool.remove(slot_id)
        async with self.db.transaction() as session:
            await PoolRepository(session).forget(slot_id)
        log.info("pool.slot_removed", slot_id=str(slot_id), why=why)


def count_claim(claimed: bool) -> None:
    (POOL_CLAIMS if claimed else POOL_MISSES).inc()


def _log_failure(task: asyncio.Task[None]) -> None:
    failure = None if task.cancelled() else task.exception()
    if failure is not None:
        log.warning("pool.refill_failed", error=describe_error(failure))
