"""A service's NATS client keeps reconnecting even when nats-py's own attempt dies of an error it
does not catch (uvloop's RuntimeError on a reset mid-handshake): without the guard the service
would stay off the bus until restarted."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from nats.aio.client import Client

from claudecloud_common.bus import make_broker
from claudecloud_common.reconnect import ReconnectGuard
from claudecloud_common.settings import ServiceSettings
from devstack.faults import FaultProxy
from tests.support import eventually

pytestmark = pytest.mark.integration


async def test_a_client_whose_reconnect_attempt_died_is_put_back_on_the_bus(
    nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = urlsplit(nats_url)
    assert server.hostname is not None
    assert server.port is not None
    with FaultProxy(server.hostname, server.port) as proxy:
        broker = make_broker(ServiceSettings(nats_url=f"nats://{proxy.address}"))
        await broker.connect()
        client = broker.connection
        guard = ReconnectGuard(broker, interval=0.1)
        try:

            async def dies_as_uvloop_makes_it() -> None:
                raise RuntimeError("unable to perform operation on <TCPTransport>; handler closed")

            # nats-py's next attempt dies the way a reset between INFO and CONNECT kills it.
            monkeypatch.setattr(client, "_attempt_reconnect", dies_as_uvloop_makes_it)
            proxy.reset()
            await eventually(lambda: _attempt_died(client), what="the reconnect attempt dead")
            assert not await broker.ping(timeout=0.5)  # off the bus, and nothing would change it
            monkeypatch.undo()  # attempts from here on are nats-py's own

            await guard.start()
            await eventually(lambda: broker.ping(timeout=0.5), what="back on the bus")
            assert client.is_connected
        finally:
            await guard.stop()
            await broker.stop()


def _attempt_died(client: Client) -> bool:
    attempt = client._reconnection_task
    return client.is_reconnecting and attempt is not None and attempt.done()
