"""A TCP proxy that breaks the network on purpose, for tests: put it between the services and
PostgreSQL or NATS, then add latency, reset every connection, or cut the link for a while.

Why our own: toxiproxy, the usual tool, is a Go server that no Python or Debian package ships
here, and the one asyncio proxy on PyPI for this (``toxic-proxy``) is a single 0.1 release from
2023. What the tests need is small: four modes on one listening port.

- :meth:`FaultProxy.pass_through`: bytes flow both ways untouched.
- :meth:`FaultProxy.latency`: every chunk waits ``ms`` milliseconds before it is forwarded, in
  each direction (so a round trip costs twice that).
- :meth:`FaultProxy.reset`: every open connection is aborted with a TCP reset (``SO_LINGER``
  0), as a restarted server or a dropped NAT entry does; new connections are taken as usual.
- :meth:`FaultProxy.partition`: a black hole, as a network partition looks from either side.
  Nothing is forwarded and nothing is refused: open connections go silent, new ones are taken
  by the kernel and then hear nothing, until :meth:`FaultProxy.heal` (or ``seconds`` later),
  when what was held flows again, as after a partition heals.

The proxy runs its own event loop on a thread, so it keeps working whatever the test's loop is
doing (a blocking call included). Every method is safe to call from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from .stack import free_port

__all__ = ["FaultProxy"]

T = TypeVar("T")
CHUNK = 65536


class FaultProxy:
    """``127.0.0.1:port`` forwards to ``upstream_host:upstream_port`` with faults on demand."""

    def __init__(self, upstream_host: str, upstream_port: int, *, port: int | None = None) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = port or free_port()
        self.connections = 0
        """Connections accepted so far (clients reconnecting after a reset show here)."""
        self.resets = 0
        """Connections aborted by :meth:`reset`."""
        self._delay = 0.0
        self._open = threading.Event()  # the link's state, set = up
        self._open.set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._flowing: asyncio.Event | None = None
        self._server: asyncio.AbstractServer | None = None
        self._sockets: set[asyncio.StreamWriter] = set()
        self._heal_timer: asyncio.TimerHandle | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._serve())
        return self

    def stop(self) -> None:
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # The modes

    def pass_through(self) -> None:
        """No fault: latency off, the link up."""
        self._delay = 0.0
        self.heal()

    def latency(self, ms: float) -> None:
        """Hold every chunk ``ms`` milliseconds before forwarding it, each way."""
        self._delay = ms / 1000

    def reset(self) -> int:
        """Abort every open connection with a TCP reset; returns how many there were."""
        return self._call(self._reset())

    def partition(self, seconds: float | None = None) -> None:
        """Forward nothing and refuse nothing, until :meth:`heal` or ``seconds`` from now."""
        self._call(self._set_flowing(False, heal_after=seconds))

    def heal(self) -> None:
        """End a partition: what was held flows again."""
        self._call(self._set_flowing(True, heal_after=None))

    @property
    def partitioned(self) -> bool:
        return not self._open.is_set()

    # On the proxy's own loop

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _serve(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._sockets):
            writer.transport.abort()
        if self._flowing is not None:
            self._flowing.set()  # let held pumps run into their closed sockets

    async def _set_flowing(self, up: bool, *, heal_after: float | None) -> None:
        assert self._flowing is not None
        if self._heal_timer is not None:
            self._heal_timer.cancel()
            self._heal_timer = None
        if up:
            self._open.set()
            self._flowing.set()
            return
        self._open.clear()
        self._flowing.clear()
        if heal_after is not None:
            self._heal_timer = self._loop.call_later(
                heal_after, lambda: self._loop.create_task(self._set_flowing(True, heal_after=None))
            )

    async def _reset(self) -> int:
        aborted = 0
        for writer in list(self._sockets):
            with contextlib.suppress(OSError):
                sock = writer.get_extra_info("socket")
                if sock is not None:  # SO_LINGER 0: close() sends RST, not FIN
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            aborted += 1
        self.resets += aborted
        return aborted

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        self.connections += 1
        self._sockets.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            await self._flowing.wait()  # a partition: the client is connected and hears nothing
            up_reader, upstream = await asyncio.open_connection(*self.upstream)
            self._sockets.add(upstream)
            await asyncio.gather(self._pump(reader, upstream), self._pump(up_reader, writer))
        except (ConnectionError, OSError):
            pass
        finally:
            for end in (writer, upstream):
                if end is not None:
                    self._sockets.discard(end)
                    end.transport.abort()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Copy one direction; a partition holds the bytes (read or not), latency delays them."""
        assert self._flowing is not None
        while True:
            await self._flowing.wait()
            data = await source.read(CHUNK)
            if not data:
                break
            if self._delay:
                await asyncio.sleep(self._delay)
            await self._flowing.wait()
            sink.write(data)
            await sink.drain()
        with contextlib.suppress(OSError):
            sink.write_eof()
