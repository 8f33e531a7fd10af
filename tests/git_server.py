"""A git repository served over plain ("dumb") HTTP from the test host, for clone tests.

``git update-server-info`` makes a bare repository fetchable by any static file server; the
standard library's ``http.server`` serves it. It listens on every address so that containers reach
it through their bridge's gateway address.
"""

from __future__ import annotations

import functools
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass(frozen=True)
class GitServer:
    port: int
    repository: str
    """The served repository's name (``<name>.git``)."""

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/{self.repository}.git"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_repository(base: Path, name: str) -> Path:
    """A bare repository ``<name>.git`` with one commit holding a README."""
    work = base / f"{name}-work"
    work.mkdir()
    _git("init", "-q", "-b", "main", cwd=work)
    (work / "README.md").write_text(f"# {name}\n")
    _git("add", "README.md", cwd=work)
    _git("-c", "user.name=Test", "-c", "user.email=test@example.com", "commit", "-qm", "first",
         cwd=work)  # fmt: skip
    bare = base / f"{name}.git"
    _git("clone", "-q", "--bare", str(work), str(bare), cwd=base)
    _git("update-server-info", cwd=bare)
    return bare


@contextmanager
def serve_repository(base: Path, name: str = "demo") -> Iterator[GitServer]:
    make_repository(base, name)
    handler = functools.partial(_Quiet, directory=str(base))
    server = ThreadingHTTPServer(("0.0.0.0", 0), handler)  # noqa: S104 (containers reach it)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield GitServer(server.server_address[1], name)
    finally:
        server.shutdown()
        server.server_close()
