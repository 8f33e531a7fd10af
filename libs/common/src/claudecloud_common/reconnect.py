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
    client._reconnection_task = asyncio.get_running_loop().create_task(
        client._attempt_reconnect()
    )
    return True


class ReconnectGuard:
    """Runs :func:`revive` on the broker's client every ``interval`` seconds while started."""

    def __init__(self, broker: NatsBroker, *, interval: float = 1.0) -> None:
        self.broker = broker
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            with contextlib.suppress(IncorrectState):  # not connected yet
                revive(self.broker.connection)
