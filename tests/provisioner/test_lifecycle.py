"""The lifecycle table, walked whole: every cause from every status, and what each move writes."""

from __future__ import annotations

import ast
from pathlib import Path
from uuid import uuid4

import pytest

from claudecloud_common.contracts.instances import (
    CreateInstance,
    DestroyInstance,
    FailureCode,
    InstanceCommand,
    InstanceFailed,
    InstanceStatus,
    PauseInstance,
    PauseReason,
    WakeInstance,
)
from claudecloud_common.contracts.providers import CAPABILITIES, ProviderKind
from provisioner.events import announce
from provisioner.lifecycle import MOVES, TRANSITIONAL, Cause, IllegalMove
from provisioner.models import Instance
from provisioner.rules import RULES

S = InstanceStatus
SOURCE = Path(__file__).parents[2] / "services" / "provisioner" / "src" / "provisioner"

COMMANDS: list[InstanceCommand] = [
    CreateInstance(instance_id=uuid4(), user_id=uuid4()),
    PauseInstance(instance_id=uuid4()),
    PauseInstance(instance_id=uuid4(), keep_memory=True),
    WakeInstance(instance_id=uuid4()),
    DestroyInstance(instance_id=uuid4(), purge=True),
]
ALL_MOVES = [(status, cause) for cause in Cause for status in S]


def instance_in(status: InstanceStatus) -> Instance:
    return Instance(
        id=uuid4(),
        user_id=uuid4(),
        status=status,
        provider=ProviderKind.DOCKER,
        host="127.0.0.1:4000",
        reason="earlier",
        condition="agent_unreachable" if status is S.RUNNING else None,
        pending_command_id=uuid4() if status in TRANSITIONAL else None,
    )


@pytest.mark.parametrize(("status", "cause"), ALL_MOVES, ids=str)
def test_every_cause_from_every_status_moves_as_the_table_says_or_raises(
    status: InstanceStatus, cause: Cause
) -> None:
    instance = instance_in(status)
    move = MOVES[cause]
    command = uuid4()
    if status not in move.sources:
        with pytest.raises(IllegalMove):
            instance.move(cause, command_id=command)
        assert instance.status is status  # an illegal move changes nothing
        return
    if move.to in TRANSITIONAL:
        with pytest.raises(IllegalMove):  # entering a transitional state names its command
            instance.move(cause)

    moved = instance.move(cause, reason="why", pause_reason=PauseReason.IDLE, command_id=command)

    assert moved is move.to
    assert instance.failure is cause.failure
    assert instance.pending_command_id == (command if move.to in TRANSITIONAL else None)
    assert instance.pause_reason is (PauseReason.IDLE if move.to in (S.PAUSED, S.FROZEN) else None)
    if move.to is not S.RUNNING:
        assert instance.condition is None  # nothing wrong to show with a machine that is not up
    if move.to in (S.PAUSED, S.FAILED, S.DESTROYED):
        assert instance.host is None  # a stopped or removed machine has no address
    event = announce(instance, cause, command_id=None, correlation_id=None)
    assert event.status is move.to


def test_every_failure_is_a_cause_and_says_its_code_in_the_event() -> None:
    for code in FailureCode:
        cause = Cause(code.value)
        assert MOVES[cause].to is S.FAILED
        instance = instance_in(next(iter(MOVES[cause].sources)))
        instance.move(cause, reason="the sentence")
        event = announce(instance, cause, command_id=None, correlation_id=None)
        assert isinstance(event, InstanceFailed)
        assert (event.code, event.reason) == (code, "the sentence")


def test_every_status_is_reachable_from_a_new_instance_and_every_live_one_can_end() -> None:
    reached, frontier = {S.PROVISIONING}, [S.PROVISIONING]
    while frontier:
        status = frontier.pop()
        for move in MOVES.values():
            if status in move.sources and move.to not in reached:
                reached.add(move.to)
                frontier.append(move.to)
    assert reached == set(S)
    for status in set(S) - {S.DESTROYED}:
        assert any(status in m.sources for m in MOVES.values()), f"{status} is a dead end"


def test_each_command_is_admitted_and_completed_by_moves_of_the_table() -> None:
    for rule in RULES.values():
        if rule.admit is not None:
            assert MOVES[rule.admit].to is rule.via
        for can in CAPABILITIES.values():
            for command in (c for c in COMMANDS if RULES[type(c)] is rule):
                assert rule.via in MOVES[rule.done(command, can)].sources
        for cause in Cause:
            if cause.failure is not None and rule.via in MOVES[cause].sources:
                assert MOVES[cause].to is S.FAILED


def test_no_module_but_the_model_writes_an_instance_status() -> None:
    """A status is changed only through ``Instance.move`` (the model sets what the table
    computes): no assignment to ``.status`` anywhere in the provisioner's code."""
    writers = []
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else []
            targets += [node.target] if isinstance(node, ast.AnnAssign | ast.AugAssign) else []
            for target in targets:
                names = target.elts if isinstance(target, ast.Tuple) else [target]
                writers += [
                    f"{path.name}:{target.lineno}"
                    for name in names
                    if isinstance(name, ast.Attribute) and name.attr == "status"
                ]
    assert writers == []
