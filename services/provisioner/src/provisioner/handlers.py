"""The provisioner's bus edge: commands, queries, and the transactions around them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage
from nats.errors import Error as NatsError
from sqlalchemy.exc import IntegrityError

from claudecloud_common.bus import (
    command_subscriber,
    delivery_attempt,
    event_subscriber,
    rpc_reply,
    rpc_subscriber,
)
from claudecloud_common.contracts.activity import (
    ActivitySubject,
    InstanceRecovered,
    InstanceUnhealthy,
)
from claudecloud_common.contracts.instances import (
    CreateInstance,
    DestroyInstance,
    GetInstance,
    GetInstanceEndpoint,
    GetMachineActivity,
    InstanceCommand,
    InstanceEndpoint,
    InstanceList,
    InstanceSubject,
    InstanceView,
    ListInstances,
    ListRunning,
    MachineActivity,
    MachineActivityList,
    PauseInstance,
    RunningPage,
    WakeInstance,
)
from claudecloud_common.db import Database
from claudecloud_common.grouping import GroupCommit
from claudecloud_common.logging import bind_correlation, get_logger
from claudecloud_common.telemetry import get_tracer

from .mesh import uses_mesh
from .providers import Machine, MachineRef, Provider, ProviderError
from .rules import RULES
from .service import InstanceService, Work
from .settings import ProvisionerSettings

log = get_logger(__name__)
TRACER = get_tracer(__name__)

ACTIVITY_CONCURRENCY = 16
"""Provider calls one ``rpc.instance.activity`` request makes at once."""
ACTIVITY_CALL_TIMEOUT_SECONDS = 10.0


class CommandRunner:
    """Runs one instance command: admit, call the provider, record the outcome.

    Each step is its own unit of work, so a crash at any point leaves a row whose
    ``pending_command_id`` lets the redelivered command pick up where it stopped. The steps of
    commands handled at the same moment share transactions (group commit).
    """

    def __init__(self, db: Database, provider: Provider, settings: ProvisionerSettings) -> None:
        self.db = db
        self.provider = provider
        self.settings = settings
        self.commits = GroupCommit(db)

    def service(self, session: object) -> InstanceService:
        return InstanceService(
            session,  # type: ignore[arg-type]
            self.provider.name,
            billing=self.settings.billing_enabled,
        )

    async def run(self, command: InstanceCommand, attempt: int) -> None:
        attributes = {"instance.id": str(command.instance_id), "command.id": str(command.id)}
        if isinstance(command, CreateInstance):
            attributes["user.id"] = str(command.user_id)
        with (
            bind_correlation(
                command.correlation_id, instance_id=str(command.instance_id), command=command.type
            ),
            TRACER.start_as_current_span(command.type, attributes=attributes),
        ):
            work = await self._begin(command)
            if work is None:
                return
            if isinstance(command, CreateInstance) and uses_mesh(self.provider.name):
                return  # the server is made once the mesh is prepared (see provisioner.mesh)
            try:
                machine = await self._act(work)
            except ProviderError as exc:
                if exc.retryable and attempt < self.settings.bus_max_deliver:
                    raise
                reason = str(exc)
                await self.commits.run(lambda s: self.service(s).fail(command, reason))
                return
            await self.commits.run(lambda s: self.service(s).complete(command, machine))

    async def _begin(self, command: InstanceCommand) -> Work | None:
        try:
            return await self.commits.run(lambda s: self.service(s).begin(command))
        except IntegrityError:
            # Another create for the same user committed first; admitting again now sees it.
            return await self.commits.run(lambda s: self.service(s).begin(command))

    async def _act(self, work: Work) -> Machine | None:
        if work.resumed:
            done, machine = await self._done_before(work)
            if done:
                log.info("instance.command_found_done", instance_id=str(work.ref.instance_id))
                return machine
        return await RULES[type(work.command)].act(self.provider, work.command, work.ref)

    async def _done_before(self, work: Work) -> tuple[bool, Machine | None]:
        """Whether a resumed command's provider call took effect before the crash that
        interrupted it (the machine already made or woken and healthy, paused, or gone), so it
        is recorded without calling again."""
        command, ref = work.command, work.ref
        if isinstance(command, DestroyInstance):
            # A purge also removes the data volume, which inspect does not show: asked again.
            return not command.purge and await self.provider.inspect(ref) is None, None
        if isinstance(command, CreateInstance) and not any(
            # The user's machine may be an earlier instance's: only this one's counts.
            owned.instance_id == ref.instance_id and owned.running
            for owned in await self.provider.inventory()
        ):
            return False, None
        found = await self.provider.inspect(ref)
        if isinstance(command, PauseInstance):
            return found is not None and not found.running, None
        if found is None or not found.running:
            return False, None
        return (await self.provider.activity(ref)).healthy, found


@contextlib.asynccontextmanager
async def still_working(message: NatsMessage, every: float) -> AsyncIterator[None]:
    """Tell JetStream the command is in hand every ``every`` seconds while it runs: a provider
    call longer than the ack wait (a container's boot) is otherwise handed out again, and the
    redelivery resumes it beside the running one, calling the provider a second time at once
    (make chaos on Docker found it). Should the process die, the beats stop and the command is
    handed out again after the ack wait, as before."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(NatsError):  # the bus away: a redelivery resumes it later
                await message.in_progress()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def register(broker: NatsBroker, runner: CommandRunner) -> None:
    """Attach the provisioner's subscribers to ``broker``."""
    settings = runner.settings

    async def run(command: InstanceCommand, message: NatsMessage) -> None:
        async with still_working(message, settings.bus_ack_wait_seconds / 3):
            await runner.run(command, delivery_attempt(message))

    @command_subscriber(broker, InstanceSubject.CREATE, settings=settings)
    async def on_create(command: CreateInstance, message: NatsMessage) -> None:
        """Create the user's instance, unless they already have a live one."""
        await run(command, message)

    @command_subscriber(broker, InstanceSubject.PAUSE, settings=settings)
    async def on_pause(command: PauseInstance, message: NatsMessage) -> None:
        """Stop a running instance's compute, keeping its data."""
        await run(command, message)

    @command_subscriber(broker, InstanceSubject.WAKE, settings=settings)
    async def on_wake(command: WakeInstance, message: NatsMessage) -> None:
        """Start a paused instance again."""
        await run(command, message)

    @command_subscriber(broker, InstanceSubject.DESTROY, settings=settings)
    async def on_destroy(command: DestroyInstance, message: NatsMessage) -> None:
        """Remove an instance's compute (and its data when purged)."""
        await run(command, message)

    @event_subscriber(broker, ActivitySubject.UNHEALTHY, settings=settings)
    async def on_unhealthy(event: InstanceUnhealthy) -> None:
        """The activity service names what is wrong with a running instance: shown with it."""
        await runner.commits.run(
            lambda s: runner.service(s).note_condition(
                event.instance_id, event.condition.value, event.occurred_at
            )
        )

    @event_subscriber(broker, ActivitySubject.RECOVERED, settings=settings)
    async def on_recovered(event: InstanceRecovered) -> None:
        """What was wrong with the instance is over."""
        await runner.commits.run(
            lambda s: runner.service(s).note_condition(event.instance_id, None, event.occurred_at)
        )

    @rpc_subscriber(broker, InstanceSubject.GET, settings=settings)
    @rpc_reply
    async def on_get(query: GetInstance) -> InstanceView:
        """One instance by id."""
        async with runner.db.read() as session:
            return await runner.service(session).get(query.instance_id)

    @rpc_subscriber(broker, InstanceSubject.ENDPOINT, settings=settings)
    @rpc_reply
    async def on_endpoint(query: GetInstanceEndpoint) -> InstanceEndpoint:
        """Where an instance's agent answers, with its secret (the gateway's proxies ask)."""
        async with runner.db.read() as session:
            return await runner.service(session).endpoint(query.instance_id)

    @rpc_subscriber(broker, InstanceSubject.LIST, settings=settings)
    @rpc_reply
    async def on_list(query: ListInstances) -> InstanceList:
        """Instances, newest first, optionally one user's and only live ones."""
        async with runner.db.read() as session:
            items = await runner.service(session).list_instances(
                user_id=query.user_id, live_only=query.live_only
            )
        return InstanceList(items=items)

    @rpc_subscriber(broker, InstanceSubject.RUNNING_PAGE, settings=settings)
    @rpc_reply
    async def on_running_page(query: ListRunning) -> RunningPage:
        """A page of the running instances, by id (the activity service's resync)."""
        async with runner.db.read() as session:
            return RunningPage(
                items=await runner.service(session).running_page(query.after, query.limit)
            )

    @rpc_subscriber(broker, InstanceSubject.ACTIVITY, settings=settings)
    @rpc_reply
    async def on_activity(query: GetMachineActivity) -> MachineActivityList:
        """Provider-level signs of many instances, with where their agents answer (the activity
        service asks once per batch instead of once per instance)."""
        async with runner.db.read() as session:
            found = await runner.service(session).endpoints(query.instance_ids)
        items = await machine_activity(runner.provider, found)
        known = {item.instance_id for item in items}
        missing = [MachineActivity(instance_id=i) for i in query.instance_ids if i not in known]
        return MachineActivityList(items=items + missing)


async def machine_activity(
    provider: Provider, found: list[tuple[InstanceEndpoint, MachineRef]]
) -> list[MachineActivity]:
    """Ask ``provider`` about each running machine, a bounded number at a time."""
    gate = asyncio.Semaphore(ACTIVITY_CONCURRENCY)

    async def one(endpoint: InstanceEndpoint, ref: MachineRef) -> MachineActivity:
        known = {
            "instance_id": endpoint.instance_id,
            "status": endpoint.status,
            "host": endpoint.host,
            "agent_secret": endpoint.agent_secret,
        }
        if endpoint.host is None:
            return MachineActivity(**known)  # not running: nothing to ask the provider
        try:
            async with gate:
                seen = await asyncio.wait_for(provider.activity(ref), ACTIVITY_CALL_TIMEOUT_SECONDS)
        except (ProviderError, TimeoutError) as exc:
            return MachineActivity(**known, error=str(exc) or type(exc).__name__)
        return MachineActivity(
            **known,
            running=seen.running,
            healthy=seen.healthy,
            processes=seen.processes,
            cpu_seconds=seen.cpu_seconds,
            oom_killed=seen.oom_killed,
            restarting=seen.restarting,
            restarts=seen.restarts,
            detail=", ".join(f"{k}={v}" for k, v in sorted(seen.details.items())),
        )

    return list(await asyncio.gather(*(one(endpoint, ref) for endpoint, ref in found)))
