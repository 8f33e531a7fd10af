"""Waking on access: opening the terminal or chat, a files or projects call, or the connect script
on a paused or frozen instance wakes it (where billing allows) and waits until it runs, instead of
refusing. Whoever waits may be told how it goes (a status line on a WebSocket)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from uuid import UUID

from claudecloud_common.contracts.instances import InstanceStatus, InstanceView, WakeInstance
from claudecloud_common.logging import get_logger

from ..instances.errors import IllegalTransition
from ..instances.events import EventHub
from ..instances.service import InstanceGateway
from .agents import Agent, AgentEndpoints
from .errors import InstanceNotRunning, WakeTimedOut

log = get_logger(__name__)

S = InstanceStatus
Say = Callable[[str], Awaitable[None]]

ASLEEP = frozenset({S.PAUSED, S.FROZEN})
"""A wake starts it."""
ON_THE_WAY = frozenset({S.PROVISIONING, S.WAKING, S.PAUSING})
"""It moves by itself: wait for where it lands."""

_SAID = {
    S.PAUSED: "your workstation is stopped: starting it (your files are all there)",
    S.FROZEN: "your workstation is frozen: thawing it (every process as you left it)",
    S.WAKING: "your workstation is waking",
    S.PROVISIONING: "your workstation is being created",
    S.PAUSING: "your workstation is pausing: it wakes once that is done",
}


@dataclass
class Watch:
    """An instance's status as its events say, for as long as a session follows it."""

    status: InstanceStatus
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def follow(self, events: asyncio.Queue[object]) -> None:
        while True:
            event = await events.get()
            status = getattr(event, "status", None)
            if isinstance(status, InstanceStatus) and status is not self.status:
                async with self._changed:
                    self.status = status
                    self._changed.notify_all()

    async def until(self, done: Callable[[InstanceStatus], bool]) -> InstanceStatus:
        """Wait until the status is one ``done`` accepts; that status."""
        async with self._changed:
            await self._changed.wait_for(lambda: done(self.status))
            return self.status


class Waker:
    def __init__(
        self,
        instances: InstanceGateway,
        hub: EventHub,
        endpoints: AgentEndpoints,
        *,
        timeout: float,
    ) -> None:
        self.instances = instances
        self.hub = hub
        self.endpoints = endpoints
        self.timeout = timeout

    async def agent(self, view: InstanceView, say: Say | None = None) -> Agent:
        """The agent of the (owned) instance ``view``, woken first when it is paused or frozen;
        refusals of the wake (unpaid, a budget reached) are raised as they came."""
        if view.status is S.RUNNING:
            with contextlib.suppress(InstanceNotRunning):
                return await self.endpoints.running(view.id)
        async with self.watching(view.id) as watch:
            await self._until_running(view, watch, say)
        self.endpoints.forget(view.id)
        return await self.endpoints.running(view.id)

    @contextlib.asynccontextmanager
    async def watching(self, instance_id: UUID) -> AsyncIterator[Watch]:
        """Follow the instance's status from now (asked fresh once the events are followed,
        so a change in between is not missed)."""
        async with self.hub.follow(instance_id) as events:
            self.instances.changed(instance_id)
            watch = Watch((await self.instances.get(instance_id)).status)
            task = asyncio.create_task(watch.follow(events))  # type: ignore[arg-type]
            try:
                yield watch
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def nudge(self, view: InstanceView) -> None:
        """Ask for a wake without waiting for it (a keystroke into a frozen terminal)."""
        with contextlib.suppress(IllegalTransition):  # already waking, or woken by someone
            await self.instances.transition(WakeInstance(instance_id=view.id), view.user_id)

    async def _until_running(self, view: InstanceView, watch: Watch, say: Say | None) -> None:
        deadline = time.monotonic() + self.timeout
        while (seen := watch.status) is not S.RUNNING:
            if seen not in ASLEEP | ON_THE_WAY:
                raise InstanceNotRunning(
                    f"instance {view.id} is {seen.value}: nothing to wake", status=seen.value
                )
            if say is not None:
                await say(_SAID[seen])
            if seen in ASLEEP:
                await self.nudge(view)
                log.info("instance.woken_on_access", instance_id=str(view.id))
            await self._changed_from(watch, seen, deadline)

    async def _changed_from(self, watch: Watch, seen: InstanceStatus, deadline: float) -> None:
        try:
            left = max(deadline - time.monotonic(), 0.0)
            await asyncio.wait_for(watch.until(lambda now: now is not seen), left)
        except TimeoutError:
            raise WakeTimedOut(
                f"the workstation is still {watch.status.value} after {self.timeout:g} s;"
                " try again in a moment"
            ) from None
