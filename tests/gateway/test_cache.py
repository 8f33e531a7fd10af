"""The gateway's event-fresh cache: events drop entries, and never keep a stale answer."""

from __future__ import annotations

import asyncio
from uuid import uuid4

from gateway.instances.cache import EventFreshCache


async def test_an_answer_is_reused_until_an_event_about_it() -> None:
    cache: EventFreshCache[int] = EventFreshCache(ttl_seconds=60)
    key, asked = uuid4(), []

    async def load() -> int:
        asked.append(1)
        return len(asked)

    assert await cache.get(key, load) == 1
    assert await cache.get(key, load) == 1
    cache.changed(key)
    assert await cache.get(key, load) == 2


async def test_an_answer_in_flight_during_an_event_is_not_kept() -> None:
    cache: EventFreshCache[str] = EventFreshCache(ttl_seconds=60)
    key = uuid4()
    answers = iter(["before the change", "after the change"])
    asked, release = asyncio.Event(), asyncio.Event()

    async def slow_load() -> str:
        value = next(answers)
        asked.set()
        await release.wait()
        return value

    reading = asyncio.create_task(cache.get(key, slow_load))
    await asked.wait()  # the read is now waiting on the provisioner
    cache.changed(key)
    release.set()
    assert await reading == "before the change"  # its caller still gets an answer
    assert await cache.get(key, slow_load) == "after the change"  # but it was not kept


async def test_a_zero_ttl_always_asks_and_keep_can_refuse() -> None:
    key, calls = uuid4(), []

    async def load() -> int:
        calls.append(1)
        return len(calls)

    never: EventFreshCache[int] = EventFreshCache(ttl_seconds=0)
    await never.get(key, load)
    await never.get(key, load)
    picky: EventFreshCache[int] = EventFreshCache(ttl_seconds=60)
    await picky.get(key, load, keep=lambda value: False)
    await picky.get(key, load, keep=lambda value: False)
    assert len(calls) == 4


async def test_readers_that_miss_at_once_share_one_question() -> None:
    cache: EventFreshCache[int] = EventFreshCache(ttl_seconds=60)
    key, asked, release, started = uuid4(), [], asyncio.Event(), asyncio.Event()

    async def load() -> int:
        asked.append(1)
        started.set()
        await release.wait()
        return len(asked)

    burst = [asyncio.create_task(cache.get(key, load)) for _ in range(50)]
    await asyncio.wait_for(started.wait(), timeout=5)  # the question is out; the rest joined it
    release.set()
    assert await asyncio.gather(*burst) == [1] * 50
    assert len(asked) == 1


async def test_a_reader_after_an_event_does_not_join_a_question_asked_before_it() -> None:
    cache: EventFreshCache[str] = EventFreshCache(ttl_seconds=60)
    key = uuid4()
    answers = iter(["before the change", "after the change"])
    asked, release = asyncio.Event(), asyncio.Event()

    async def load() -> str:
        value = next(answers)
        asked.set()
        await release.wait()
        return value

    early = asyncio.create_task(cache.get(key, load))
    await asked.wait()
    cache.changed(key)
    late = asyncio.create_task(cache.get(key, load))
    release.set()
    assert await early == "before the change"
    assert await late == "after the change"


async def test_a_failed_question_fails_each_reader_and_the_next_one_asks_again() -> None:
    cache: EventFreshCache[int] = EventFreshCache(ttl_seconds=60)
    key, asked, release, started = uuid4(), [], asyncio.Event(), asyncio.Event()

    async def failing() -> int:
        asked.append(1)
        started.set()
        await release.wait()
        raise TimeoutError("the provisioner did not answer")

    burst = [asyncio.create_task(cache.get(key, failing)) for _ in range(3)]
    await asyncio.wait_for(started.wait(), timeout=5)  # the question is out; the rest joined it
    release.set()
    results = await asyncio.gather(*burst, return_exceptions=True)
    assert all(isinstance(r, TimeoutError) for r in results)
    assert len(asked) == 1

    async def fine() -> int:
        return 7

    assert await cache.get(key, fine) == 7
