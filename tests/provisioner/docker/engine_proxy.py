"""A Unix-socket proxy in front of the Docker engine that a test can cut, so the provisioner
sees the engine stop answering at a chosen moment (the engine itself, and every other
container on it, carries on)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

UPSTREAM = "/var/run/docker.sock"


class EngineProxy:
    def __init__(self, path: Path, upstream: str = UPSTREAM) -> None:
        self.path = path
        self.upstream = upstream
        self.up = True
        self.cuts = 0
        self._marker: bytes | None = None
        self._outage: float | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        future.result(timeout=10)

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def cut_after(self, marker: bytes, outage: float | None) -> None:
        """Once a request containing ``marker`` reached the engine and it answered, drop the
        answer and every connection, and refuse new ones for ``outage`` seconds (None: until
        :meth:`restore`)."""
        self._marker, self._outage = marker, outage

    def restore(self) -> None:
        self.up = True

    async def _serve(self) -> None:
        self._server = await asyncio.start_unix_server(self._handle, path=str(self.path))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_unix_connection(self.upstream)
        self._writers.update((writer, up_writer))
        tripped = asyncio.Event()

        async def to_engine() -> None:
            while data := await reader.read(65536):
                up_writer.write(data)
                await up_writer.drain()
                if self._marker is not None and self._marker in data:
                    self._marker = None
                    tripped.set()
            up_writer.close()

        async def to_client() -> None:
            while data := await up_reader.read(65536):
                if tripped.is_set():
                    self._cut()
                    return
                writer.write(data)
                await writer.drain()
            writer.close()

        with contextlib.suppress(ConnectionError, OSError):
            await asyncio.gather(to_engine(), to_client())
        self._writers.difference_update((writer, up_writer))

    def _cut(self) -> None:
        self.up = False
        self.cuts += 1
        for writer in list(self._writers):
            writer.close()
        if self._outage is not None:
            self._loop.call_later(self._outage, self.restore)
