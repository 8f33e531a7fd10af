"""The provisioner's bus edge: commands, queries, and the transactions around them."""

from __future__ import annotations

import asyncio

from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage
from pydantic import SecretStr
from sqlalchemy.exc import IntegrityError

from claudecloud_common.bus import (
    command_subscriber,
    delivery_attempt,
    event_subscriber,
    still_working,
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
    GetLeftOff,
    GetMachineActivity,
    HostMemory,
    InstanceCommand,
    InstanceEndpoint,
    InstanceList,
    InstanceStatus,
    InstanceSubject,
    InstanceView,
    LeftOff,
    ListInstances,
    ListRunning,
    MachineActivity,
    MachineActivityList,
    PauseInstance,
    RunningPage,
    WakeInstance,
)
from claudecloud_common.contracts.providers import Capabilities, capabilities
from claudecloud_common.db import Database
from claudecloud_common.grouping import GroupCommit
from claudecloud_common.logging import bind_correlation, get_logger
from claudecloud_common.rpc import rpc_reply, rpc_subscriber
from claudecloud_common.telemetry import get_tracer

from .checkpoints import Checkpointer, Taken
from .lifecycle import Cause
from .models import PoolSlot
from .pool import PoolKeeper
from .providers import Machine, MachineRef, Provider, ProviderError
from .queries import InstanceQueries
from .rules import RULES, freezes
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
        self.checkpointer = Checkpointer(settings.checkpoint_deadline_seconds)
        self.keeper = (
            PoolKeeper(db, provider.pool, settings.warm_pool_size, settings.warm_pool_seconds)
            if provider.pool is not None and settings.warm_pool_size > 0
            else None
        )
        """The warm pool's keeper, where the provider keeps one and it is wanted."""

    def service(self, session: object) -> InstanceService:
        return InstanceService(
            session,  # type: ignore[arg-type]
            self.provider.name,
            billing=self.settings.billing_enabled,
            pool_image=self.keeper.image if self.keeper is not None else None,
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
            if isinstance(command, CreateInstance) and capabilities(self.provider.name).mesh:
                return  # the server is made once the mesh is prepared (see provisioner.mesh)
            try:
                machine, taken = await self._act(work)
            except ProviderError as exc:
                if exc.retryable and attempt < self.settings.bus_max_deliver:
                    raise
                cause, reason = Cause(exc.failure.value), str(exc)
                await self.commits.run(lambda s: self.service(s).fail(command, cause, reason))
                return
            await self.commits.run(lambda s: self.service(s).complete(command, machine, taken))

    async def _begin(self, command: InstanceCommand) -> Work | None:
        try:
            return await self.commits.run(lambda s: self.service(s).begin(command))
        except IntegrityError:
            # Another create for the same user committed first; admitting again now sees it.
            return await self.commits.run(lambda s: self.service(s).begin(command))

    async def _act(self, work: Work) -> tuple[Machine | None, Taken | None]:
        if work.resumed:
            done, machine = await self._done_before(work)
            if done:
                log.info("instance.command_found_done", instance_id=str(work.ref.instance_id))
                return machine, None
        command = work.command
        if work.slot is not None:
            return await self._adopt(work, work.slot), None
        stops = isinstance(command, PauseInstance) and not freezes(command, self.can)
        taken = await self._checkpoint(work) if stops else None
        return await RULES[type(command)].act(self.provider, command, work.ref), taken

    async def _adopt(self, work: Work, slot: PoolSlot) -> Machine:
        """A create that claimed a warm pool slot: the slot's machine made the user's (and the
        pool refilled behind it)."""
        assert self.provider.pool is not None
        assert self.keeper is not None
        machine = await self.provider.pool.adopt(slot.id, work.ref, SecretStr(slot.secret))
        self.keeper.poke()
        return machine

    @property
    def can(self) -> Capabilities:
        return capabilities(self.provider.name)

    async def _checkpoint(self, work: Work) -> Taken:
        """Before a stop: thaw a frozen machine (its agent must answer), then ask its agent to
        save what the stop would lose. Whatever happens, the stop goes on."""
        assert isinstance(work.command, PauseInstance)
        reason = work.command.reason.value
        if not self.can.agent:
            return Taken(reason, error="this provider's machines have no agent (demo mode)")
        try:
            found = await self.provider.inspect(work.ref)
            if found is not None and found.frozen:
                await self.provider.wake(work.ref)
        except ProviderError as exc:
            return Taken(reason, error=f"the machine could not be asked: {exc}"[:1000])
        if found is None or not found.running:
            return Taken(reason, error="the machine was not running")
        taken = await self.checkpointer.take(work.agent, reason)
        log.info(
            "instance.checkpointed",
            instance_id=str(work.ref.instance_id),
            repositories=len(taken.checkpoint.repositories) if taken.checkpoint else 0,
            error=taken.error,
        )
        return taken

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
        if isinstance(command, PauseInstance) and freezes(command, self.can):
            return found is not None and found.frozen, None
        if isinstance(command, PauseInstance):
            return found is not None and not found.running, None
        if found is None or not found.running:
            return False, None
        return (await self.provider.activity(ref)).healthy, found


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

    @rpc_subscriber(broker, GetInstance, settings=settings)
    @rpc_reply
    async def on_get(query: GetInstance) -> InstanceView:
        """One instance by id."""
        async with runner.db.read() as session:
            return await InstanceQueries(session).get(query.instance_id)

    @rpc_subscriber(broker, GetLeftOff, settings=settings)
    @rpc_reply
    async def on_left_off(query: GetLeftOff) -> LeftOff:
        """Where an instance left off: when and why it paused, what its checkpoint saved."""
        async with runner.db.read() as session:
            return await InstanceQueries(session).left_off(query.instance_id)

    @rpc_subscriber(broker, GetInstanceEndpoint, settings=settings)
    @rpc_reply
    async def on_endpoint(query: GetInstanceEndpoint) -> InstanceEndpoint:
        """Where an instance's agent answers, with its secret (the gateway's proxies ask)."""
        async with runner.db.read() as session:
            return await InstanceQueries(session).endpoint(query.instance_id)

    @rpc_subscriber(broker, ListInstances, settings=settings)
    @rpc_reply
    async def on_list(query: ListInstances) -> InstanceList:
        """Instances, newest first, optionally one user's and only live ones."""
        async with runner.db.read() as session:
            items = await InstanceQueries(session).list_instances(
                user_id=query.user_id, live_only=query.live_only
            )
        return InstanceList(items=items)

    @rpc_subscriber(broker, ListRunning, settings=settings)
    @rpc_reply
    async def on_running_page(query: ListRunning) -> RunningPage:
        """A page of the running instances, by id (the activity service's resync)."""
        async with runner.db.read() as session:
            return RunningPage(
                items=await InstanceQueries(session).running_page(query.after, query.limit)
            )

    @rpc_subscriber(broker, GetMachineActivity, settings=settings)
    @rpc_reply
    async def on_activity(query: GetMachineActivity) -> MachineActivityList:
        """Provider-level signs of many instances, with where their agents answer (the activity
        service asks once per batch instead of once per instance)."""
        async with runner.db.read() as session:
            found = await InstanceQueries(session).endpoints(query.instance_ids)
        items = await machine_activity(runner.provider, found)
        known = {item.instance_id for item in items}
        missing = [MachineActivity(instance_id=i) for i in query.instance_ids if i not in known]
        host = await host_memory(runner.provider)
        return MachineActivityList(
            items=items + missing, host_memory=host, provider=runner.provider.name
        )


async def host_memory(provider: Provider) -> HostMemory | None:
    """The shared host's memory, or None when the provider cannot tell now."""
    try:
        return await asyncio.wait_for(provider.host_memory(), ACTIVITY_CALL_TIMEOUT_SECONDS)
    except (ProviderError, TimeoutError):
        return None


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
        if endpoint.status not in (InstanceStatus.RUNNING, InstanceStatus.FROZEN):
            return MachineActivity(**known)  # not up: nothing to ask the provider
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
            frozen=seen.frozen,
            memory_bytes=seen.memory_bytes,
            detail=", ".join(f"{k}={v}" for k, v in sorted(seen.details.items())),
        )

    return list(await asyncio.gather(*(one(endpoint, ref) for endpoint, ref in found)))
