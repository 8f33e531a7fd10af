"""``make run``'s launcher (``python -m devstack``) as a user starts it: its own process, its own
ports and data folder, its output in a file. Stopped the way every test stops what it starts:
its process group, and the kernel's parent-death signal should the test run itself die.

The ``launch`` fixture (``tests/devstack``, ``tests/e2e/test_make_run.py``) is
:func:`launching`."""

from __future__ import annotations

import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from devstack import Child, free_port
from tests.support import eventually

BANNER = re.compile(r"ClaudeCloud is up:\s+(\S+).*?Admin API key:\s+(\S+)", re.S)
# What a developer's shell may hold that would point a launcher at shared servers.
UNSET = ("DATABASE_URL", "NATS_URL", "ADMIN_API_KEY", "PORT", "NATS_PORT", "DATA_DIR", "PROVIDER")


@dataclass
class Launcher:
    child: Child
    folder: Path
    port: int

    @property
    def log(self) -> Path:
        """Where the launcher's output (and so every service's) is written."""
        assert self.child.log is not None
        return self.child.log

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def banner(self, timeout: float = 90) -> str:
        """Wait for the banner; returns the admin API key it prints."""

        def printed() -> re.Match[str] | None:
            if self.child.returncode is not None:
                raise AssertionError(f"the launcher exited:\n{self.output[-4000:]}")
            return BANNER.search(self.output)

        found: re.Match[str] = await eventually(printed, timeout=timeout, what="the start banner")
        assert found.group(1) == f"http://localhost:{self.port}"
        return found.group(2)

    def api(self, key: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.port}", headers={"X-API-Key": key}, timeout=10
        )

    def descendants(self) -> list[psutil.Process]:
        assert self.child.pid is not None
        return psutil.Process(self.child.pid).children(recursive=True)

    def service_process(self, module: str) -> psutil.Process:
        for process in self.descendants():
            if process.cmdline()[-2:] == ["-m", module]:
                return process
        raise AssertionError(f"no {module} process under the launcher")

    def interrupt(self) -> None:
        assert self.child.popen is not None
        self.child.popen.send_signal(signal.SIGINT)


Launch = Callable[..., Launcher]


@contextmanager
def launching(tmp_path: Path) -> Iterator[Launch]:
    """``launch(name, **env)`` starts a launcher with its own ``PORT`` and ``DATA_DIR``; every
    one started is stopped at the end."""
    started: list[Child] = []

    def start(name: str = "run", **env: str) -> Launcher:
        folder = tmp_path / name
        port = int(env.get("GATEWAY_HTTP_PORT") or free_port())
        environ = {k: v for k, v in os.environ.items() if k not in UNSET}
        environ |= {"DATA_DIR": str(folder / "data"), "PORT": str(port), "PROVIDER": "fake"}
        # make run bills by default; these launchers give free instances unless told otherwise.
        environ |= {"BILLING_ENABLED": "false"}
        child = Child(
            f"launcher-{name}",
            [sys.executable, "-m", "devstack"],
            environ | env,
            log=folder / "launcher.log",
        )
        started.append(child)
        child.start()
        return Launcher(child, folder, port)

    try:
        yield start
    finally:
        for child in started:
            child.stop()
