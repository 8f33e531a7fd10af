"""A client for terminals in ttyd's wire protocol, with a screen (pyte) to read them like a person.

Shared by the agent's own tests, the proxy tests and the terminal benchmark (``tests.ttyd`` is
this module under its old name).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyte
import websockets
from websockets.asyncio.client import ClientConnection

from claudecloud_agentapi.terminal import INPUT, OUTPUT, RESIZE, SUBPROTOCOL, TITLE

STATUS_BACKGROUND = "green"  # tmux's default status-style
DIVIDER = "│"


@dataclass(frozen=True)
class Layout:
    """tmux as a person sees it on the screen: its status bar and the line between two panes."""

    columns: int
    rows: int
    status_rows: tuple[int, ...]
    """Rows that start with tmux's status bar colour."""
    status_width: int
    """How many columns of the last of those rows have it."""
    dividers: tuple[int, ...]
    """Columns holding a vertical pane border from the top row down to the status bar."""
    lines: tuple[str, ...]

    @property
    def full_screen(self) -> bool:
        """tmux draws at the screen's size: its status bar is the last row, from edge to edge."""
        return self.status_rows == (self.rows - 1,) and self.status_width == self.columns

    @property
    def split(self) -> int | None:
        """The left pane's width, when the screen shows exactly two panes side by side."""
        return self.dividers[0] if len(self.dividers) == 1 else None

    def splits(self, share: float, *, tolerance: int = 2) -> bool:
        """Two panes, the left one ``share`` of the width (± ``tolerance`` columns)."""
        return self.split is not None and abs(self.split - share * self.columns) <= tolerance

    def pane(self, side: str) -> list[str]:
        """The text of the ``"left"`` or ``"right"`` pane, line by line (none while the screen
        does not show two panes side by side)."""
        if self.split is None:
            return []
        body = self.lines[: self.rows - 1]
        if side == "left":
            return [line[: self.split].rstrip() for line in body]
        return [line[self.split + 1 :].rstrip() for line in body]


class Terminal:
    """One open terminal: send keys, resize, and wait for text to show on the screen."""

    def __init__(self, connection: ClientConnection, columns: int, rows: int) -> None:
        self.connection = connection
        self.screen = pyte.Screen(columns, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.title: str | None = None
        self.received = 0
        self.render = True
        """Feed output to the screen; off, output is only counted (pyte is slow for bulk)."""

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        columns: int = 120,
        rows: int = 40,
        headers: dict[str, str] | None = None,
        origin: str | None = None,
        **kwargs: Any,
    ) -> Terminal:
        connection = await websockets.connect(
            url,
            additional_headers=headers,
            origin=origin,  # type: ignore[arg-type]
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            max_size=None,
            open_timeout=20,
            **kwargs,
        )
        terminal = cls(connection, columns, rows)
        opening = json.dumps({"AuthToken": "", "columns": columns, "rows": rows})
        await connection.send(opening.encode())
        return terminal

    async def send_keys(self, text: str) -> None:
        await self.connection.send(INPUT + text.encode())

    async def resize(self, columns: int, rows: int) -> None:
        self.screen.resize(rows, columns)
        await self.connection.send(RESIZE + json.dumps({"columns": columns, "rows": rows}).encode())

    async def read_frame(self, timeout: float) -> bytes:
        frame = await asyncio.wait_for(self.connection.recv(), timeout)
        data = frame if isinstance(frame, bytes) else frame.encode()
        kind, payload = data[:1], data[1:]
        if kind == OUTPUT:
            self.received += len(payload)
            if self.render:
                self.stream.feed(payload)
        elif kind == TITLE:
            self.title = payload.decode(errors="replace")
        return data

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def layout(self) -> Layout:
        columns, rows, cells = self.screen.columns, self.screen.lines, self.screen.buffer
        status = tuple(row for row in range(rows) if cells[row][0].bg == STATUS_BACKGROUND)
        width = 0
        if status:
            width = sum(cells[status[-1]][c].bg == STATUS_BACKGROUND for c in range(columns))
        above = status[0] if status else rows
        dividers = tuple(
            column
            for column in range(columns)
            if above > 0 and all(cells[row][column].data == DIVIDER for row in range(above))
        )
        return Layout(columns, rows, status, width, dividers, tuple(self.screen.display))

    async def wait_for(self, found: Callable[[str], bool] | str, *, timeout: float = 15.0) -> str:
        """Read output until the screen shows ``found`` (a text, or a test on the screen)."""
        test = (lambda screen: found in screen) if isinstance(found, str) else found
        await self.wait_until(lambda terminal: test(terminal.text()), timeout=timeout)
        return self.text()

    async def wait_layout(self, test: Callable[[Layout], bool], *, timeout: float = 15.0) -> Layout:
        """Read output until the screen's :class:`Layout` passes ``test``."""
        await self.wait_until(lambda terminal: test(terminal.layout()), timeout=timeout)
        return self.layout()

    async def wait_until(self, test: Callable[[Terminal], bool], *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not test(self):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"not on the screen within {timeout}s:\n{self.text()}")
            try:
                await self.read_frame(left)
            except TimeoutError:
                continue

    async def close(self) -> None:
        await self.connection.close()


def drawn_at(columns: int, rows: int, share: float = 0.7) -> Callable[[Layout], bool]:
    """A test for :meth:`Terminal.wait_layout`: tmux fills the screen at ``columns`` x ``rows``
    with two panes, the left one ``share`` of the width."""
    return lambda layout: layout.columns == columns and layout.full_screen and layout.splits(share)


def first_drawn_at(columns: int, rows: int, share: float = 0.7) -> Callable[[Layout], bool]:
    """:func:`drawn_at` for a new screen, which also fails at once when tmux draws its status
    bar on another row (as it would at another size) on the way."""
    drawn = drawn_at(columns, rows, share)

    def test(layout: Layout) -> bool:
        screen = "\n".join(layout.lines)
        assert layout.status_rows in ((), (rows - 1,)), f"drawn at another size:\n{screen}"
        return drawn(layout)

    return test


def shows_in_pane(side: str, line: str) -> Callable[[Layout], bool]:
    """``line``, whole, on a line of the ``side`` pane (not wrapped, not in the other pane)."""
    return lambda layout: line in layout.pane(side)


def stand_in_pid(layout: Layout) -> int | None:
    """The pid the tests' stand-in ``claude`` shows in the left pane (the latest one)."""
    found = re.findall(r"stand-in pid=(\d+)", "\n".join(layout.pane("left")))
    return int(found[-1]) if found else None
