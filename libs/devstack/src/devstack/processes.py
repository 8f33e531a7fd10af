"""Child processes that cannot outlive whoever started them (Linux).

Each child runs in a process group of its own (Ctrl-C reaches only the launcher, which stops each
child in order, and a stop reaches the child's own children too) and asks the kernel for SIGKILL
when its parent dies (``prctl(PR_SET_PDEATHSIG)``), so even a SIGKILLed launcher or test run
leaves nothing behind. The kernel sends that signal when the *thread* that forked the child ends,
so every child is forked by one long-lived thread of this module.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

__all__ = ["Child", "ChildFailed"]

PR_SET_PDEATHSIG = 1
TAIL_LINES = 40

_prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before any fork
_forker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="devstack-forker")


class ChildFailed(RuntimeError):
    """A child exited, or never answered, while it was being started."""

    def __init__(self, name: str, reason: str, last_lines: Sequence[str]) -> None:
        self.name = name
        self.reason = reason
        self.last_lines = list(last_lines)
        tail = "".join(f"\n    | {line}" for line in self.last_lines)
        super().__init__(f"{name} {reason}" + (f"; its last lines:{tail}" if tail else ""))


def _die_with(parent: int, user: tuple[int, int] | None) -> Callable[[], None]:
    def in_child() -> None:
        if user is not None:  # first: changing credentials clears the parent-death signal
            os.setgroups([])
            os.setgid(user[1])
            os.setuid(user[0])
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl: nobody would stop us
            os.kill(os.getpid(), signal.SIGKILL)

    return in_child


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with code {returncode}"


class Child:
    """One process: started, watched, stopped with its whole process group.

    Its output goes to ``log`` (a file, appended) when given, else through to this process's
    stderr; either way the last lines are kept to say why it stopped.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        log: Path | None = None,
        cwd: Path | None = None,
        user: tuple[int, int] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log = log
        self.cwd = cwd
        self.user = user
        """``(uid, gid)`` to run as (PostgreSQL refuses to run as root)."""
        self.popen: subprocess.Popen[bytes] | None = None
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> None:
        self._tail.clear()
        out: IO[bytes] | int
        if self.log is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            self._log_offset = self.log.stat().st_size if self.log.exists() else 0
            out = self.log.open("ab")
        else:
            out = subprocess.PIPE
        try:
            self.popen = _forker.submit(self._fork, out).result()
        finally:
            if not isinstance(out, int):
                out.close()
        if self.popen.stdout is not None:
            threading.Thread(
                target=self._pass_through, args=(self.popen.stdout,), daemon=True
            ).start()

    def _fork(self, out: IO[bytes] | int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with(os.getpid(), self.user),  # noqa: PLW1509 (only prctl, setuid)
        )

    def _pass_through(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self._tail.append(raw.decode(errors="replace").rstrip("\n"))
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.buffer.write(raw)
                sys.stderr.buffer.flush()
        stream.close()

    def last_lines(self, count: int = 20) -> list[str]:
        """The last lines this run of the process wrote."""
        if self.log is None:
            return list(self._tail)[-count:]
        try:
            with self.log.open("rb") as log:
                log.seek(self._log_offset)
                text = log.read()[-64 * 1024 :].decode(errors="replace")
        except OSError:
            return []
        return text.splitlines()[-count:]

    def signal_group(self, sig: signal.Signals) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL the process and its group, as a crash would, and reap it."""
        if self.popen is None:
            return
        self.signal_group(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM the group, wait up to ``timeout``, then SIGKILL it."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        self.signal_group(signal.SIGKILL)  # whatever of its group is left
        self.popen.wait(timeout=10)
