"""Keeps a service's NATS client reconnecting, whatever ended its last attempt.

nats-py reconnects in one task that catches ``OSError``, its own errors and timeouts. When a
connection reset lands between the server's ``INFO`` and the client's ``CONNECT``, uvloop raises
``RuntimeError`` from the write instead; the task dies of it and the client stays "reconnecting"
for good: the service is off the bus (its ``/healthz`` says so) until someone restarts it. Found by
``tests/e2e/test_faults.py``, about one run in six.

:class:`ReconnectGuard` looks once a second and starts a new attempt when the client is
reconnecting with no attempt alive. It reaches into two of the client's private attributes,
here and nowhere else; its test (``tests/common/test_reconnect.py``) fails if they change.
"""

from __future__ import annotations

import asyncio
import contextlib

from faststream.exceptions import IncorrectState
from faststream.nats import NatsBroker
from nats.aio.client import Client

from .background import Periodic
from .logging import get_logger

__all__ = ["ReconnectGuard", "revive"]

log = get_logger(__name__)


def revive(client: Client) -> bool:
    """Start a new reconnect attempt when the last one died; True when it did."""
    attempt: asyncio.Task[None] | None = client._reconnection_task
    if not client.is_reconnecting or attempt is None or not attempt.done():
        return False
    error = None if attempt.cancelled() else attempt.exception()
    log.warning("bus.reconnect_revived", error=f"{type(error).__name__}: {error}")
    client._reconnection_task = asyncio.get_running_loop().create_task(client._attempt_reconnect())
    return True


class ReconnectGuard(Periodic):
    """Runs :func:`revive` on the broker's client every ``interval`` seconds while started."""

    name = "bus-reconnect-guard"
    failure_event = "bus.reconnect_guard_failed"

    def __init__(self, broker: NatsBroker, *, interval: float = 1.0) -> None:
        super().__init__(interval)
        self.broker = broker

    async def tick(self) -> None:
        with contextlib.suppress(IncorrectState):  # not connected yet
            revive(self.broker.connection)
