"""KeyedLock: work under one key takes turns, other keys go on, and nothing is kept after."""

from __future__ import annotations

import asyncio

from claudecloud_common.locks import KeyedLock


async def test_one_key_takes_turns_while_another_goes_on() -> None:
    locks: KeyedLock[str] = KeyedLock()
    order: list[str] = []
    first_in, release = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with locks.hold("a"):
            order.append("a1 in")
            first_in.set()
            await release.wait()
            order.append("a1 out")

    async def second() -> None:
        async with locks.hold("a"):
            order.append("a2 in")

    async def other() -> None:
        async with locks.hold("b"):
            order.append("b in")

    running = asyncio.create_task(first())
    await first_in.wait()
    waiting = asyncio.create_task(second())
    await other()  # another key: not held up
    assert order == ["a1 in", "b in"]
    release.set()
    await asyncio.gather(running, waiting)
    assert order == ["a1 in", "b in", "a1 out", "a2 in"]
    assert len(locks) == 0  # nobody holds or waits: nothing kept


async def test_a_failure_or_cancel_inside_lets_the_next_in() -> None:
    locks: KeyedLock[int] = KeyedLock()
    try:
        async with locks.hold(1):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    holder_in = asyncio.Event()

    async def hold_forever() -> None:
        async with locks.hold(1):
            holder_in.set()
            await asyncio.Event().wait()

    holder = asyncio.create_task(hold_forever())
    await holder_in.wait()
    waiter = asyncio.create_task(hold_forever())
    waiter.cancel()  # gone before its turn
    holder.cancel()
    await asyncio.gather(holder, waiter, return_exceptions=True)
    async with asyncio.timeout(1), locks.hold(1):
        pass
    assert len(locks) == 0
