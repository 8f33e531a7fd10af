"""Background work: a periodic task survives a failing tick, never starts at interval 0, and
stops when asked."""

from __future__ import annotations

import pytest

from claudecloud_common.background import Periodic
from tests.support import eventually

pytestmark = pytest.mark.unit


class Flaky(Periodic):
    name = "flaky"

    def __init__(self, interval: float, *, at_start: bool = True) -> None:
        super().__init__(interval, at_start=at_start)
        self.ticks = 0

    async def tick(self) -> None:
        self.ticks += 1
        if self.ticks == 1:
            raise ConnectionError("the database is down")


async def test_a_failing_tick_is_tried_again_next_time_and_stop_ends_it() -> None:
    task = Flaky(0.01)
    await task.start()
    await eventually(lambda: task.ticks >= 3, what="ticks after a failure")
    await task.stop()
    stopped_at = task.ticks
    await task.start()  # started again: ticks go on from where they were
    await eventually(lambda: task.ticks > stopped_at, what="ticks after a restart")
    await task.stop()


async def test_interval_zero_means_never() -> None:
    never, clock = Flaky(0, at_start=True), Flaky(0.01, at_start=True)
    await never.start()
    await clock.start()  # ticks beside it: time enough for a started task to have ticked
    await eventually(lambda: clock.ticks >= 3, what="the other task's ticks")
    await clock.stop()
    await never.stop()
    assert never.ticks == 0


async def test_one_tick_now_logs_its_failure_instead_of_raising() -> None:
    """What a service's start-up runs once (the provisioner's reconciliation): a database busy
    for a moment is logged, and the service starts; the timer tries again."""
    task = Flaky(0)
    await task.tick_once()  # the first tick fails: not raised
    await task.tick_once()
    assert task.ticks == 2
