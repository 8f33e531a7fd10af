"""A command whose provisioner died mid-way, handled again on redelivery: the provider is asked
once per command. Killed after the provider's answer but before the record, the command finds
its effect already there and only records it (make chaos counted pauses, wakes and a create
called twice for one command); killed before the call, it makes the call."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from claudecloud_common.contracts.instances import (
    CreateInstance,
    DestroyInstance,
    InstanceCommand,
    InstanceSubject,
    PauseInstance,
    WakeInstance,
)
from provisioner.queries import InstanceQueries
from provisioner.rules import RULES

from .conftest import Harness

CASES = {
    "create": (CreateInstance, InstanceSubject.CREATE, "running", "instance.running"),
    "pause": (PauseInstance, InstanceSubject.PAUSE, "paused", "instance.paused"),
    "wake": (WakeInstance, InstanceSubject.WAKE, "running", "instance.woken"),
    "destroy": (DestroyInstance, InstanceSubject.DESTROY, "destroyed", "instance.destroyed"),
}


async def running_instance(h: Harness, *, paused: bool) -> UUID:
    instance = uuid4()
    await h.send(InstanceSubject.CREATE, CreateInstance(instance_id=instance, user_id=uuid4()))
    if paused:
        await h.send(InstanceSubject.PAUSE, PauseInstance(instance_id=instance))
    return instance


async def crash_after_admission(h: Harness, command: InstanceCommand, *, called: bool) -> None:
    """What a SIGKILL leaves: the command admitted (its row in the transitional state), the
    provider's call made or not, nothing recorded after it, the message not acknowledged."""
    runner = h.parts.runner
    work = await runner.commits.run(lambda s: runner.service(s).begin(command))
    assert work is not None
    if called:
        await RULES[type(command)].act(h.parts.provider, command, work.ref)


@pytest.mark.parametrize("called_before_crash", [True, False], ids=["after-call", "before-call"])
@pytest.mark.parametrize("kind", list(CASES))
async def test_a_command_redelivered_after_a_crash_calls_the_provider_once(
    harness: Harness, kind: str, called_before_crash: bool
) -> None:
    command_type, subject, target, outcome = CASES[kind]
    if kind == "create":
        instance = uuid4()
        command: InstanceCommand = CreateInstance(instance_id=instance, user_id=uuid4())
    else:
        instance = await running_instance(harness, paused=kind == "wake")
        command = command_type(instance_id=instance)
    await crash_after_admission(harness, command, called=called_before_crash)

    await harness.send(subject, command)  # the redelivery, to the restarted provisioner

    async with harness.parts.db.transaction(notify=False) as session:
        view = await InstanceQueries(session).get(instance)
    assert view.status.value == target
    assert harness.fake_state()["calls"][kind] == 1
    assert [e["type"] for e in await harness.outbox()].count(outcome) == 1
