"""The frozen tier on a real engine: a pause that keeps memory keeps every process where it was,
and a wake thaws them; a frozen instance can still be stopped or destroyed."""

from __future__ import annotations

import uuid

from docker.models.containers import Container

from .conftest import DockerPlatform, eventually, exec_in

SHELL_PANE = "claude:0.1"
"""The tmux session's right pane: the user's shell (the left one runs Claude Code)."""


SESSION_SETUP = "/opt/claudecloud/bin/tmux-session.sh"


def type_into_shell(container: Container, line: str) -> None:
    # The session may still be starting when the instance runs (the agent answers first).
    keys = f"tmux send-keys -t {SHELL_PANE} {quote(line)} Enter"
    code, output = exec_in(container, f"{SESSION_SETUP} ensure && {keys}")
    assert code == 0, output


def quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def read(container: Container, path: str) -> str | None:
    code, output = exec_in(container, f"cat {path} 2>/dev/null")
    return output.strip() if code == 0 and output.strip() else None


async def test_freeze_then_wake_keeps_the_shell_its_variables_and_a_running_sleep(
    platform: DockerPlatform,
) -> None:
    user = uuid.uuid4()
    instance = (await platform.create(user))["id"]
    await platform.wait_status(instance, "running")
    container = platform.container(user)
    assert container is not None
    type_into_shell(
        container, 'export MARK=kept-$RANDOM; sleep 900 & echo "$$ $! $MARK" > /tmp/before'
    )
    before = await eventually(lambda: read(container, "/tmp/before"), what="the shell's answer")
    shell_pid, sleep_pid, mark = before.split()

    await platform.act(instance, "freeze")
    frozen = await platform.wait_status(instance, "frozen")
    assert frozen["pause_reason"] == "user"
    container.reload()
    assert container.status == "paused"

    await platform.act(instance, "wake")
    await platform.wait_status(instance, "running")
    type_into_shell(container, 'echo "$$ $MARK" > /tmp/after')
    after = await eventually(lambda: read(container, "/tmp/after"), what="the thawed shell")
    assert after == f"{shell_pid} {mark}"  # the same shell process, its variable still set
    code, _ = exec_in(container, f"kill -0 {sleep_pid}")
    assert code == 0, "the background sleep did not survive the freeze"


async def test_a_frozen_instance_stops_on_a_pause_without_memory_and_can_be_destroyed(
    platform: DockerPlatform,
) -> None:
    user = uuid.uuid4()
    instance = (await platform.create(user))["id"]
    await platform.wait_status(instance, "running")
    await platform.act(instance, "freeze")
    await platform.wait_status(instance, "frozen")

    await platform.act(instance, "pause")
    await platform.wait_status(instance, "paused")
    stopped = platform.container(user)
    assert stopped is not None
    assert stopped.status == "exited"

    await platform.act(instance, "wake")
    await platform.wait_status(instance, "running")
    await platform.act(instance, "freeze")
    await platform.wait_status(instance, "frozen")
    await platform.act(instance, "destroy")
    await platform.wait_status(instance, "destroyed")
    assert platform.container(user) is None
    assert platform.volume_exists(user)
