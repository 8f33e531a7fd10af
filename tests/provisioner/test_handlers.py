"""The instance lifecycle as the provisioner applies it, message by message."""

from __future__ import annotations

from uuid import uuid4

from claudecloud_common.contracts.instances import (
    CreateInstance,
    DestroyInstance,
    InstanceStatus,
    InstanceSubject,
    InstanceView,
    PauseInstance,
    PauseReason,
    WakeInstance,
)
from provisioner.queries import InstanceQueries

from .conftest import Harness


async def view_of(h: Harness, instance_id: object) -> InstanceView:
    async with h.parts.db.transaction(notify=False) as session:
        return await InstanceQueries(session).get(instance_id)  # type: ignore[arg-type]


async def status_of(h: Harness, instance_id: object) -> str:
    return (await view_of(h, instance_id)).status.value


async def test_create_runs_the_instance_and_announces_it(harness: Harness) -> None:
    user, instance = uuid4(), uuid4()
    await harness.send(InstanceSubject.CREATE, CreateInstance(instance_id=instance, user_id=user))

    assert await status_of(harness, instance) == "running"
    events = [e["type"] for e in await harness.outbox()]
    assert events == ["instance.requested", "instance.running"]
    assert harness.fake_state()["machines"][str(user)]["running"] is True


async def test_full_lifecycle_and_its_events(harness: Harness) -> None:
    user, instance = uuid4(), uuid4()
    await harness.send(InstanceSubject.CREATE, CreateInstance(instance_id=instance, user_id=user))
    await harness.send(InstanceSubject.PAUSE, PauseInstance(instance_id=instance))
    assert await status_of(harness, instance) == "paused"
    assert (await view_of(harness, instance)).host is None  # nothing to reach while paused
    assert harness.fake_state()["machines"][str(user)]["running"] is False
    await harness.send(InstanceSubject.WAKE, WakeInstance(instance_id=instance))
    assert await status_of(harness, instance) == "running"
    await harness.send(InstanceSubject.DESTROY, DestroyInstance(instance_id=instance))
    assert await status_of(harness, instance) == "destroyed"

    assert [e["type"] for e in await harness.outbox()] == [
        "instance.requested",
        "instance.running",
        "instance.accepted",
        "instance.paused",
        "instance.accepted",
        "instance.woken",
        "instance.accepted",
        "instance.destroyed",
    ]


async def test_illegal_transitions_are_refused_with_a_reason(harness: Harness) -> None:
    user, instance = uuid4(), uuid4()
    await harness.send(InstanceSubject.CREATE, CreateInstance(instance_id=instance, user_id=user))
    await harness.send(InstanceSubject.WAKE, WakeInstance(instance_id=instance))

    rejected = [e for e in await harness.outbox() if e["type"] == "instance.rejected"]
    assert len(rejected) == 1
    assert "cannot wake" in rejected[0]["detail"]
    assert "already running" in rejected[0]["detail"]
    assert await status_of(harness, instance) == "running"


async def test_a_second_live_instance_is_refused_naming_the_first(harness: Harness) -> None:
    user, first, second = uuid4(), uuid4(), uuid4()
    await harness.send(InstanceSubject.CREATE, CreateInstance(instance_id=first, user_id=user))
    await harness.send(InstanceSubject.CREATE, CreateInstance(instance_id=second, user_id=user))

    rejected = [e for e in await harness.outbox() if e["type"] == "instance.rejected"]
    assert rejected[0]["existing_instance_id"] == str(first)
    assert harness.fake_state()["calls"]["create"] == 1


async def test_a_destroyed_instance_frees_the_user_for_a_new_one(harness: Harness) -> None:
    user, first, second = uuid4(), uuid4(), uuid4()
    await harness.send(InstanceSubject.CREATE, CreateInstance(instance_id=first, user_id=user))
    await harness.send(InstanceSubject.DESTROY, DestroyInstance(instance_id=first))
    await harness.send(InstanceSubject.CREATE, CreateInstance(instance_id=second, user_id=user))

    assert await status_of(harness, second) == "running"


async def test_the_same_message_twice_changes_nothing(harness: Harness) -> None:
    user, instance = uuid4(), uuid4()
    command = CreateInstance(instance_id=instance, user_id=user)
    await harness.send(InstanceSubject.CREATE, command)
    await harness.send(InstanceSubject.CREATE, command)
    pause = PauseInstance(instance_id=instance)
    await harness.send(InstanceSubject.PAUSE, pause)
    await harness.send(InstanceSubject.PAUSE, pause)

    state = harness.fake_state()
    assert state["calls"] == {"create": 1, "pause": 1}
    types = [e["type"] for e in await harness.outbox()]
    assert types.count("instance.running") == 1
    assert types.count("instance.paused") == 1
    assert "instance.rejected" not in types


async def test_a_refused_create_delivered_again_later_stays_refused(harness: Harness) -> None:
    user, first = uuid4(), uuid4()
    await harness.send(InstanceSubject.CREATE, CreateInstance(instance_id=first, user_id=user))
    refused = CreateInstance(instance_id=uuid4(), user_id=user)
    await harness.send(InstanceSubject.CREATE, refused)
    await harness.send(InstanceSubject.DESTROY, DestroyInstance(instance_id=first))
    # The refused command comes back (a lost acknowledgement): the user has no live instance
    # now, but this command was answered already and must not create one.
    await harness.send(InstanceSubject.CREATE, refused)

    state = harness.fake_state()
    assert state["calls"]["create"] == 1
    assert [e["type"] for e in await harness.outbox()].count("instance.rejected") == 1


async def test_a_pause_that_keeps_memory_freezes_and_a_wake_thaws(harness: Harness) -> None:
    user, instance = uuid4(), uuid4()
    await harness.send(InstanceSubject.CREATE, CreateInstance(instance_id=instance, user_id=user))
    running = await view_of(harness, instance)
    freeze = PauseInstance(instance_id=instance, keep_memory=True, reason=PauseReason.IDLE)
    await harness.send(InstanceSubject.PAUSE, freeze)

    frozen = await view_of(harness, instance)
    assert (frozen.status, frozen.pause_reason) == (InstanceStatus.FROZEN, PauseReason.IDLE)
    assert frozen.host == running.host  # the same machine, the same address
    assert harness.fake_state()["machines"][str(user)]["frozen"] is True
    await harness.send(InstanceSubject.PAUSE, PauseInstance(instance_id=instance, keep_memory=True))
    rejected = [e for e in await harness.outbox() if e["type"] == "instance.rejected"]
    assert "already frozen" in rejected[0]["detail"]

    await harness.send(InstanceSubject.WAKE, WakeInstance(instance_id=instance))
    assert await status_of(harness, instance) == "running"
    assert harness.fake_state()["machines"][str(user)]["frozen"] is False
    assert [e["type"] for e in await harness.outbox()] == [
        "instance.requested",
        "instance.running",
        "instance.accepted",
        "instance.frozen",
        "instance.rejected",
        "instance.accepted",
        "instance.woken",
    ]


async def test_a_frozen_instance_can_be_stopped_the_second_tier(harness: Harness) -> None:
    user, instance = uuid4(), uuid4()
    await harness.send(InstanceSubject.CREATE, CreateInstance(instance_id=instance, user_id=user))
    await harness.send(InstanceSubject.PAUSE, PauseInstance(instance_id=instance, keep_memory=True))
    await harness.send(
        InstanceSubject.PAUSE, PauseInstance(instance_id=instance, reason=PauseReason.IDLE)
    )

    stopped = await view_of(harness, instance)
    assert (stopped.status, stopped.pause_reason, stopped.host) == (
        InstanceStatus.PAUSED,
        PauseReason.IDLE,
        None,
    )
    machine = harness.fake_state()["machines"][str(user)]
    assert (machine["running"], machine["frozen"]) == (False, False)
    # The fake has no agent to checkpoint, so a frozen one is stopped as it is (no thaw first).
    assert harness.fake_state()["calls"] == {"create": 1, "freeze": 1, "pause": 1}


async def test_a_stop_whose_checkpoint_cannot_be_taken_still_stops_and_says_why(
    harness: Harness,
) -> None:
    user, instance = uuid4(), uuid4()
    await harness.send(InstanceSubject.CREATE, CreateInstance(instance_id=instance, user_id=user))
    await harness.send(
        InstanceSubject.PAUSE, PauseInstance(instance_id=instance, reason=PauseReason.IDLE)
    )

    async with harness.parts.db.read() as session:
        left = await InstanceQueries(session).left_off(instance)
    assert (left.status, left.pause_reason, left.checkpoint) == (
        InstanceStatus.PAUSED,
        PauseReason.IDLE,
        None,
    )
    assert left.paused_at is not None
    assert left.checkpoint_error is not None
    assert "no agent" in left.checkpoint_error
