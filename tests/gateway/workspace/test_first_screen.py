"""The terminal as a person meets it, through the gateway on a real container: what the screen
(pyte) shows at the opening size, after a reconnect and a resize, with keys typed at once; and
Claude Code coming back in its pane (the stand-in ``claude`` of the image built for tests)."""

from __future__ import annotations

import pytest

from tests.ttyd import Layout, drawn_at, first_drawn_at, shows_in_pane, stand_in_pid

from .conftest import SHELL_PANE, Proxied, User, exec_in


@pytest.fixture(scope="module")
async def person(proxied: Proxied) -> User:
    """A user of their own: these tests change the session (focus, Claude Code's process)."""
    return await proxied.new_user("screen")


def window_size(user: User) -> str:
    """The size of tmux's window, as tmux itself says (the status bar takes one row)."""
    code, output = exec_in(
        user.container, "tmux display -p -t claude: '#{window_width}x#{window_height}'"
    )
    assert code == 0, output
    return output.strip()


async def test_first_screen_reconnect_and_resize(proxied: Proxied, person: User) -> None:
    # The person moved to the shell pane earlier (keys sent in one go are a paste to tmux, so a
    # Ctrl-b o among them would not switch panes).
    code, output = exec_in(person.container, f"tmux select-pane -t {SHELL_PANE}")
    assert code == 0, output

    terminal = await proxied.terminal(person, columns=120, rows=30)
    try:
        await terminal.send_keys("echo ok-$((6*7))\r")  # at once, no resize message
        layout = await terminal.wait_layout(first_drawn_at(120, 30), timeout=30)
        assert layout.split == 84
        assert window_size(person) == "120x29"
        await terminal.wait_layout(shows_in_pane("right", "ok-42"), timeout=30)
    finally:
        await terminal.close()

    again = await proxied.terminal(person, columns=100, rows=40)
    try:
        await again.send_keys("echo ok-$((6*8))\r")
        await again.wait_layout(first_drawn_at(100, 40), timeout=30)
        assert window_size(person) == "100x39"
        await again.wait_layout(shows_in_pane("right", "ok-48"), timeout=30)

        await again.resize(200, 50)
        await again.send_keys("clear; echo ok-$((6*9))\r")
        await again.wait_layout(drawn_at(200, 50), timeout=30)
        await again.wait_layout(shows_in_pane("right", "ok-54"), timeout=30)
        assert window_size(person) == "200x49"
    finally:
        await again.close()


async def test_claude_code_killed_comes_back(proxied: Proxied, person: User) -> None:
    terminal = await proxied.terminal(person, columns=100, rows=30)
    try:
        layout = await terminal.wait_layout(lambda seen: stand_in_pid(seen) is not None, timeout=30)
        killed = stand_in_pid(layout)
        code, output = exec_in(person.container, f"kill -KILL {killed}")
        assert code == 0, output

        def came_back(seen: Layout) -> bool:
            said = "Claude Code was stopped by SIGKILL (exit code 137)." in seen.pane("left")
            return said and stand_in_pid(seen) not in (None, killed)

        layout = await terminal.wait_layout(came_back, timeout=30)
        assert "The right pane is always a shell: Ctrl-b o goes there." in layout.pane("left")
    finally:
        await terminal.close()


async def test_a_session_that_is_gone_comes_back_with_its_layout(
    proxied: Proxied, person: User
) -> None:
    code, output = exec_in(person.container, "tmux kill-server")
    assert code == 0, output
    terminal = await proxied.terminal(person, columns=90, rows=25)
    try:
        await terminal.wait_layout(first_drawn_at(90, 25), timeout=30)
        await terminal.wait_layout(lambda seen: stand_in_pid(seen) is not None, timeout=30)
    finally:
        await terminal.close()
