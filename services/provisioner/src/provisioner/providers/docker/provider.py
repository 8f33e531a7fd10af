"""The docker provider: one hardened container and one data volume per user, on one engine.

Names are deterministic (container ``claude-{user_id}``, volume ``claude-data-{user_id}`` or the
one a claimed warm pool slot brought, the network from settings), so every call is idempotent: it
looks first and only makes what is missing. Everything it makes carries our labels;
reconciliation only touches containers labelled with this deployment. The agent's secret is the
provisioner's, given to the agent in a file before the container starts (never in its
environment, which ``docker inspect`` shows). SDK calls block, so each runs in a worker thread.
``create`` and ``wake`` return only once the agent answers: ``running`` means usable.
"""

from __future__ import annotations

import os
import secrets
from uuid import UUID

from docker.errors import APIError, NotFound
from docker.models.containers import Container
from pydantic import SecretStr

from claudecloud_common.contracts.instances import HostMemory
from claudecloud_common.contracts.providers import ProviderKind

from ..base import (
    Activity,
    Machine,
    MachineRef,
    OwnedMachine,
    ProviderFailure,
    read_meminfo,
)
from . import spec
from .engine import DockerEngine, tail_logs, thaw, usage
from .pool import DockerPool
from .spec import LABEL_INSTANCE, LABEL_SLOT, LABEL_USER, DockerOptions, container_name


class DockerProvider:
    name = ProviderKind.DOCKER

    def __init__(self, options: DockerOptions) -> None:
        self.options = options
        self.engine = DockerEngine(options)
        self.pool = DockerPool(self.engine)

    # The protocol

    async def create(self, ref: MachineRef) -> Machine:
        machine = await self.engine.call(self._up, ref)
        return await self._ready(ref, machine)

    async def pause(self, ref: MachineRef, *, keep_memory: bool) -> None:
        await self.engine.call(self._freeze if keep_memory else self._stop, ref)

    async def wake(self, ref: MachineRef) -> Machine:
        # Thaws a frozen one (its agent answers at once); starts a stopped one; recreates one
        # that was lost.
        machine = await self.engine.call(self._up, ref)
        return await self._ready(ref, machine)

    async def destroy(self, ref: MachineRef, *, purge: bool) -> None:
        await self.engine.call(self._remove, ref, purge)

    async def inspect(self, ref: MachineRef) -> Machine | None:
        container = await self.engine.call(self._find, ref)
        return spec.machine(self.options, container, ref.agent_secret) if container else None

    async def activity(self, ref: MachineRef) -> Activity:
        return await self.engine.call(self._activity, ref)

    async def inventory(self) -> list[OwnedMachine]:
        return await self.engine.call(self._inventory)

    async def host_memory(self) -> HostMemory | None:
        # Only a local engine's host is this one; a remote engine's memory is not readable.
        local = (self.options.url or os.environ.get("DOCKER_HOST") or "unix://").startswith(
            "unix://"
        )
        return read_meminfo() if local else None

    async def remove_orphan(self, machine: OwnedMachine) -> None:
        await self.engine.call(self._remove_by_id, machine.provider_id)

    async def close(self) -> None:
        await self.engine.close()

    # Blocking steps (worker threads)

    def _up(self, ref: MachineRef) -> Machine:
        """The user's container, made (or made again) if needed, sized, and running."""
        volume = _volume(ref)
        self.engine.ensure_volume(volume, spec.labels(self.options, ref))
        container = self._find(ref)
        if container is not None and not _belongs(container, ref):
            # An earlier instance's leftover. v=True removes anonymous volumes only: ours stays.
            container.remove(force=True, v=True)
            container = None
        if container is not None and spec.resized(container, self.options, ref):
            container = self._resize(container, ref)
        if container is None:
            made = spec.spec(
                self.options,
                ref,
                name=container_name(ref.user_id),
                volume=volume,
                marks=spec.labels(self.options, ref),
                instance=ref.instance_id,
            )
            container = self.engine.new_container(made)
        secret = (
            ref.agent_secret
            or spec.machine(self.options, container, None).agent_secret  # an older machine's
            or SecretStr(secrets.token_urlsafe(32))
        )
        self.engine.start(container, secret)
        return spec.machine(self.options, container, secret)

    def _resize(self, container: Container, ref: MachineRef) -> Container | None:
        """The plan's size, applied in place; a container made before limits were updatable
        (NanoCpus) is removed to be made again at the new size."""
        try:
            container.update(**spec.size(self.options, ref))
        except APIError:
            thaw(container)
            container.remove(force=True, v=True)
            return None
        container.reload()
        return container

    def _freeze(self, ref: MachineRef) -> None:
        """The cgroup freezer: processes keep their memory and state and stop running."""
        container = self._find(ref)
        if container is None:
            raise ProviderFailure(f"container {container_name(ref.user_id)} does not exist")
        if container.status == "running":
            container.pause()
        elif container.status != "paused":
            raise ProviderFailure(
                f"container {container_name(ref.user_id)} is {container.status}, not running:"
                " nothing to freeze"
            )

    def _stop(self, ref: MachineRef) -> None:
        container = self._find(ref)
        if container is not None and container.status != "exited":
            thaw(container)  # stopping a frozen one signals processes that cannot run
            container.stop(timeout=self.options.stop_timeout)

    def _remove(self, ref: MachineRef, purge: bool) -> None:
        container = self._find(ref)
        if container is not None:
            thaw(container)  # on cgroup v1 a forced removal of a frozen one hangs (runc#3134)
            container.remove(force=True, v=True)  # v: anonymous volumes only
        if purge:
            self.engine.remove_volume(_volume(ref))

    def _remove_by_id(self, provider_id: str) -> None:
        try:
            container = self.engine.client.containers.get(provider_id)
        except NotFound:
            return
        thaw(container)
        container.remove(force=True, v=True)
        if slot_named(container):  # never claimed: its volume never held anyone's data
            self.engine.remove_volume(container.name)

    def _find(self, ref: MachineRef) -> Container | None:
        return self.engine.get(container_name(ref.user_id))

    def _activity(self, ref: MachineRef) -> Activity:
        container = self._find(ref)
        if container is None:
            return Activity(running=False, healthy=False, details={"status": "missing"})
        state = container.attrs["State"]
        running = container.status == "running"
        frozen = container.status == "paused"
        health = state.get("Health", {}).get("Status", "none")
        processes = len(container.top().get("Processes") or []) if running else 0
        return Activity(
            running=running or frozen,
            frozen=frozen,
            # Frozen is not unhealthy: its health monitor stops while it is (moby's health.go).
            healthy=frozen or (running and health in ("healthy", "none")),
            processes=processes,
            details={"status": container.status, "health": health},
            oom_killed=bool(state.get("OOMKilled")),
            restarting=bool(state.get("Restarting")),
            restarts=int(container.attrs.get("RestartCount") or 0),
            **(usage(container) if running or frozen else {}),
        )

    def _inventory(self) -> list[OwnedMachine]:
        # ignore_removed: a container removed between the listing and its inspection is gone.
        found = self.engine.client.containers.list(
            all=True,
            ignore_removed=True,
            filters=spec.ours_filter(self.options),
        )
        return [_owned(c) for c in found]

    # The agent

    async def _ready(self, ref: MachineRef, machine: Machine) -> Machine:
        """Wait until the agent answers with this instance's secret; that is ``running``."""
        if machine.agent_secret is None:
            raise ProviderFailure(f"container {container_name(ref.user_id)} has no agent secret")
        name = container_name(ref.user_id)

        async def where() -> str | None:
            return (await self._still_running(ref)).host

        host = await self.engine.ready(name, machine.host, machine.agent_secret, where)
        return Machine(machine.provider_id, True, host, machine.agent_secret, frozen=machine.frozen)

    async def _still_running(self, ref: MachineRef) -> Machine:
        container = await self.engine.call(self._find, ref)
        if container is None or container.status != "running":
            logs = await self.engine.call(tail_logs, container) if container is not None else ""
            raise ProviderFailure(
                f"container {container_name(ref.user_id)} stopped while starting: {logs}"
            )
        return spec.machine(self.options, container, ref.agent_secret)


def _volume(ref: MachineRef) -> str:
    """The user's data volume: the one their claimed slot brought, else the user's own."""
    return spec.pool_name(ref.slot_id) if ref.slot_id else spec.volume_name(ref.user_id)


def _belongs(container: Container, ref: MachineRef) -> bool:
    """Whether ``container`` is this instance's: made for it, or the pool slot it claimed."""
    labels = container.labels
    if labels.get(LABEL_INSTANCE) == str(ref.instance_id):
        return True
    return ref.slot_id is not None and labels.get(LABEL_SLOT) == str(ref.slot_id)


def _owned(container: Container) -> OwnedMachine:
    """A container as reconciliation sees it: whose instance and user its labels say (a claimed
    pool container says only its slot; its name says its user)."""
    labels = container.labels
    slot = labels.get(LABEL_SLOT)
    user = labels.get(LABEL_USER)
    if user is None and container.name.startswith("claude-") and not slot_named(container):
        user = container.name.removeprefix("claude-")
    return OwnedMachine(
        provider_id=container.id,
        instance_id=UUID(labels[LABEL_INSTANCE]) if LABEL_INSTANCE in labels else None,
        user_id=UUID(user) if user else None,
        running=container.status in ("running", "paused"),
        slot_id=UUID(slot) if slot else None,
    )


def slot_named(container: Container) -> bool:
    return bool(container.name.startswith("claude-pool-"))
