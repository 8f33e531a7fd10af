"""The fault proxy's modes, seen from a client of an echo server behind it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from devstack.faults import FaultProxy

pytestmark = pytest.mark.unit  # sockets on 127.0.0.1 in this process, nothing started


@pytest.fixture
async def proxy() -> AsyncIterator[FaultProxy]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with FaultProxy("127.0.0.1", port) as started:
        yield started
    server.close()


async def _round_trip(writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> float:
    started = time.monotonic()
    writer.write(b"ping")
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(4), timeout=5) == b"ping"
    return time.monotonic() - started


async def test_latency_delays_each_way_and_pass_through_ends_it(proxy: FaultProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    assert await _round_trip(writer, reader) < 0.1
    proxy.latency(150)
    assert await _round_trip(writer, reader) >= 0.3  # 150 ms there, 150 ms back
    proxy.pass_through()
    assert await _round_trip(writer, reader) < 0.1
    writer.close()


async def test_reset_breaks_open_connections_and_new_ones_work(proxy: FaultProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    await _round_trip(writer, reader)
    assert proxy.reset() == 2  # the client's side and the server's
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await _round_trip(writer, reader)
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    assert await _round_trip(writer, reader) < 1
    assert proxy.connections == 2
    writer.close()


async def test_a_partition_holds_everything_and_delivers_it_when_it_heals(
    proxy: FaultProxy,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    await _round_trip(writer, reader)
    proxy.partition(seconds=1.0)
    assert proxy.partitioned
    writer.write(b"held")
    await writer.drain()
    # A new connection is taken (nothing is refused) and hears nothing either.
    late_reader, late_writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    late_writer.write(b"late")
    await late_writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.readexactly(4), timeout=0.5)
    # Healed on its own after a second: what was held arrives, on both connections.
    assert await asyncio.wait_for(reader.readexactly(4), timeout=5) == b"held"
    assert await asyncio.wait_for(late_reader.readexactly(4), timeout=5) == b"late"
    assert not proxy.partitioned
    writer.close()
    late_writer.close()
