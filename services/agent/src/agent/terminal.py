"""A terminal on the tmux session ``claude``, spoken in ttyd's wire protocol.

Each WebSocket gets its own PTY (ptyprocess) running ``tmux new-session -A``: it attaches to the
session, or creates it when it is missing (first with the layout of the image's setup program, see
:func:`ensure_session`). tmux keeps the session when the PTY goes away, so a reconnecting client
finds the screen as it was left.

The PTY starts at the size of the opening message, so tmux draws its first frame at that size.
Keys wait until tmux has attached (:meth:`TmuxPty.wait_attached`): until then the PTY is in cooked
mode, where the line discipline would echo them, turn ``^C`` into a signal for the tmux client,
and tmux's switch to raw mode may discard them.

Frames are binary, in ttyd's protocol (:mod:`claudecloud_agentapi.terminal`); ttyd's
``AuthToken`` in the opening JSON is ignored: the connection is already authenticated.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ptyprocess import PtyProcess

READ_CHUNK = 64 * 1024
QUEUE_CHUNKS = 64
"""Output chunks waiting for the WebSocket before the PTY stops being read (back-pressure)."""
MIN_SIZE, MAX_SIZE = 1, 1000
SETUP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Size:
    columns: int = 80
    rows: int = 24

    @classmethod
    def from_json(cls, raw: bytes) -> Size | None:
        try:
            data = json.loads(raw or b"{}")
            columns, rows = int(data["columns"]), int(data["rows"])
        except (ValueError, KeyError, TypeError):
            return None
        if not (MIN_SIZE <= columns <= MAX_SIZE and MIN_SIZE <= rows <= MAX_SIZE):
            return None
        return cls(columns, rows)


def tmux_env() -> dict[str, str]:
    """This process's environment without the marks of being inside tmux (tmux would refuse)."""
    return {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}


async def ensure_session(setup: str, session: str, cwd: Path) -> None:
    """Run ``<setup> ensure``, which creates the session with its layout when it is missing. If it
    fails, ``new-session -A`` still creates a plain one: a terminal beats no terminal."""
    if not setup:
        return
    try:
        process = await asyncio.create_subprocess_exec(
            setup,
            "ensure",
            cwd=cwd,
            env={**tmux_env(), "TMUX_SESSION": session},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return
    try:
        await asyncio.wait_for(process.wait(), SETUP_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()


class TmuxPty:
    """One PTY attached to the tmux session; its output is read without blocking the loop."""

    def __init__(self, session: str, cwd: Path, size: Size, term: str) -> None:
        env = tmux_env()
        env["TERM"] = term
        self.process = PtyProcess.spawn(
            ["tmux", "new-session", "-A", "-s", session, "-c", str(cwd)],
            cwd=str(cwd),
            env=env,
            dimensions=(size.rows, size.columns),
        )
        self.fd: int = self.process.fd
        flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
        fcntl.fcntl(self.fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self.output: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._reading = False
        self._paused = False  # by the client ('2' … '3')
        self._closed = False
        self._ended = False  # the tmux client exited
        self._attached = asyncio.Event()
        self._resume_reading()

    async def wait_attached(self, timeout: float) -> None:
        """Until tmux has attached this client, or ``timeout`` seconds. tmux writes nothing before
        it has put the terminal in raw mode for the session, so its first output says so."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._attached.wait(), timeout)

    def resize(self, size: Size) -> None:
        self.process.setwinsize(size.rows, size.columns)

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except BlockingIOError:
                await asyncio.sleep(0.005)  # the PTY's input buffer is full: let tmux read it
                continue
            except OSError:
                return  # the PTY is gone; the reader reports it
            view = view[written:]

    def pause(self) -> None:
        self._paused = True
        self._stop_reading()

    def resume(self) -> None:
        self._paused = False
        self._resume_reading()

    def drained(self) -> None:
        """The consumer took a chunk: read again if back-pressure had stopped reading."""
        if self.output.qsize() < QUEUE_CHUNKS // 2:
            self._resume_reading()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_reading()
        # Closing the master hangs up the tmux client; the session itself stays.
        await asyncio.to_thread(self.process.close, True)

    def _resume_reading(self) -> None:
        if not (self._reading or self._paused or self._closed or self._ended):
            self._loop.add_reader(self.fd, self._on_readable)
            self._reading = True

    def _stop_reading(self) -> None:
        if self._reading:
            self._loop.remove_reader(self.fd)
            self._reading = False

    def _on_readable(self) -> None:
        try:
            data = os.read(self.fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # EIO: the tmux client exited
        self._attached.set()
        if not data:
            self._stop_reading()
            self._ended = True
            self.output.put_nowait(None)  # the end
            return
        self.output.put_nowait(data)
        if self.output.qsize() >= QUEUE_CHUNKS:
            self._stop_reading()
