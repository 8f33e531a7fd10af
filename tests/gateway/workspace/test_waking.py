"""Waking on access, through the gateway on real containers: a terminal opened on a stopped
instance wakes it and says so first; a keystroke into a frozen instance's open terminal thaws it
and is echoed; a terminal left open across a stop stays open and its next key wakes it."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
from websockets.exceptions import ConnectionClosed

from tests.support import eventually
from tests.ttyd import Terminal

from .conftest import PING_SECONDS, Proxied, User, select_shell_pane


async def pause(proxied: Proxied, user: User, *, keep_memory: bool) -> None:
    async with proxied.api(user) as api:
        response = await api.post(
            f"/instances/{user.instance_id}/pause", json={"keep_memory": keep_memory}
        )
    assert response.status_code == 202, response.text
    await status_becomes(proxied, user, "frozen" if keep_memory else "paused")


async def status_becomes(proxied: Proxied, user: User, wanted: str) -> None:
    async def reached() -> bool:
        view = (await proxied.admin.get(f"/instances/{user.instance_id}")).json()
        return bool(view["status"] == wanted)

    await eventually(reached, timeout=90, what=f"the instance {wanted}")


async def echoed(terminal: Terminal, *, timeout: float = 30) -> None:
    marker = uuid.uuid4().hex[:10]
    await terminal.send_keys(f"echo {marker[:5]}''{marker[5:]}\r")
    await terminal.wait_for(lambda s: re.search(marker, s) is not None, timeout=timeout)


async def test_a_terminal_opened_on_a_stopped_instance_says_it_wakes_it_then_connects(
    proxied: Proxied,
) -> None:
    user = await proxied.new_user("stopped")
    await pause(proxied, user, keep_memory=False)

    terminal = await proxied.terminal(user)
    try:
        await terminal.wait_for("[claude-cloud] your workstation is stopped", timeout=15)
        await status_becomes(proxied, user, "running")
        select_shell_pane(user.container)
        await echoed(terminal, timeout=60)
    finally:
        await terminal.close()


async def test_a_keystroke_into_a_frozen_terminal_thaws_it_and_is_echoed(
    proxied: Proxied,
) -> None:
    user = await proxied.new_user("frozen")
    terminal = await proxied.terminal(user)
    try:
        await echoed(terminal)
        await pause(proxied, user, keep_memory=True)
        # Frozen, the agent answers no ping: the gateway stops pinging it instead of dropping it.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(terminal.connection.wait_closed(), 3 * PING_SECONDS)

        await echoed(terminal)  # the key waits in the socket, wakes it, and is echoed

        await status_becomes(proxied, user, "running")
    finally:
        await terminal.close()


async def test_a_terminal_open_across_a_stop_stays_open_and_its_next_key_wakes_it(
    proxied: Proxied,
) -> None:
    user = await proxied.new_user("across")
    terminal = await proxied.terminal(user)
    try:
        await echoed(terminal)
        await pause(proxied, user, keep_memory=False)
        await terminal.wait_for("type to wake it", timeout=30)

        await terminal.send_keys("\r")  # any key wakes it
        await terminal.wait_for("[claude-cloud] your workstation is", timeout=15)
        await status_becomes(proxied, user, "running")
        select_shell_pane(user.container)
        await echoed(terminal, timeout=60)
    except ConnectionClosed as closed:
        raise AssertionError(f"the terminal was closed: {closed}") from closed
    finally:
        await terminal.close()
