"""A client for terminals in ttyd's wire protocol, with a screen (pyte) to read them like a person.

Shared by the agent's own tests, the proxy tests and the terminal benchmark.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pyte
import websockets
from websockets.asyncio.client import ClientConnection

INPUT, RESIZE, PAUSE, RESUME = b"0", b"1", b"2", b"3"
OUTPUT, TITLE, PREFERENCES = b"0", b"1", b"2"


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
            subprotocols=["tty"],  # type: ignore[list-item]
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

    async def wait_for(self, found: Callable[[str], bool] | str, *, timeout: float = 15.0) -> str:
        """Read output until the screen shows ``found`` (a text, or a test on the screen)."""
        test = (lambda screen: found in screen) if isinstance(found, str) else found
        deadline = time.monotonic() + timeout
        while not test(self.text()):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"not on the screen within {timeout}s:\n{self.text()}")
            try:
                await self.read_frame(left)
            except TimeoutError:
                continue
        return self.text()

    async def close(self) -> None:
        await self.connection.close()
