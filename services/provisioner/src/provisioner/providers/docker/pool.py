"""The Docker provider's warm pool: containers started ahead of any create, each with a new empty
volume and its agent up under a pool secret, no user's data, credentials or id anywhere.

A create that claims one makes it the user's: the container takes the user's name (``docker
rename`` works live), the plan's size is applied to it running (``docker update``), and the
agent is given the instance's secret (``PUT /secret``, asked with the pool secret, which stops
working at once). Every step looks first, so adopting again after a crash finishes the job. A
slot's volume goes with its container to the user; an unclaimed slot's are removed together.
"""

from __future__ import annotations

from uuid import UUID

import httpx
from docker.models.containers import Container
from pydantic import SecretStr

from claudecloud_agentapi import SecretRotation

from ..base import Machine, MachineRef, ProviderFailure, ProviderUnavailable
from . import spec
from .engine import DockerEngine, thaw
from .spec import container_name, pool_name


class DockerPool:
    def __init__(self, engine: DockerEngine) -> None:
        self.engine = engine
        self.options = engine.options

    async def image_id(self) -> str:
        """The id of the image new machines are made from (a slot of another is stale)."""
        image = await self.engine.call(self.engine.client.images.get, self.options.image)
        return str(image.id)

    async def start(self, slot_id: UUID, secret: SecretStr) -> Machine:
        """Make and start a slot's container and volume; once its agent answers."""
        machine = await self.engine.call(self._start, slot_id, secret)
        return await self._ready(pool_name(slot_id), machine, secret)

    async def adopt(self, slot_id: UUID, ref: MachineRef, pool_secret: SecretStr) -> Machine:
        """Make the slot's running container ``ref``'s: its name, its size, its secret."""
        if ref.agent_secret is None:
            raise ProviderFailure("a claimed slot needs the instance's secret to give its agent")
        machine = await self.engine.call(self._take, slot_id, ref)
        if machine.host is None:
            raise ProviderUnavailable(f"the claimed slot {slot_id} has no address")
        if not await self.engine.answers(machine.host, _bearer(ref.agent_secret)):
            await self._rotate(machine.host, pool_secret, ref)
        return await self._ready(container_name(ref.user_id), machine, ref.agent_secret)

    async def remove(self, slot_id: UUID) -> None:
        """Remove an unclaimed slot's container and volume (a claimed one is its user's)."""
        await self.engine.call(self._remove, slot_id)

    # Blocking steps

    def _start(self, slot_id: UUID, secret: SecretStr) -> Machine:
        name = pool_name(slot_id)
        marks = spec.pool_labels(self.options, slot_id)
        self.engine.ensure_volume(name, marks)
        container = self.engine.get(name)
        if container is None:
            anonymous = MachineRef(instance_id=slot_id, user_id=slot_id)  # the settings' size
            made = spec.spec(
                self.options, anonymous, name=name, volume=name, marks=marks, instance=None
            )
            container = self.engine.new_container(made)
        self.engine.start(container, secret)
        return spec.machine(self.options, container, secret)

    def _take(self, slot_id: UUID, ref: MachineRef) -> Machine:
        assert ref.agent_secret is not None
        container = self._claimed(slot_id, ref)
        if container.status != "running":  # stopped since it was ready: it starts as the user's
            self.engine.start(container, ref.agent_secret)
        if spec.resized(container, self.options, ref):
            container.update(**spec.size(self.options, ref))
            container.reload()
        return spec.machine(self.options, container, ref.agent_secret)

    def _claimed(self, slot_id: UUID, ref: MachineRef) -> Container:
        """The slot's container under the user's name (renamed now, or by an earlier try)."""
        mine = self.engine.get(container_name(ref.user_id))
        if mine is not None and mine.labels.get(spec.LABEL_SLOT) == str(slot_id):
            return mine
        if mine is not None:
            raise ProviderFailure(f"{container_name(ref.user_id)} exists and is not slot {slot_id}")
        pooled = self.engine.get(pool_name(slot_id))
        if pooled is None:
            raise ProviderFailure(f"the warm pool's slot {slot_id} has no container")
        pooled.rename(container_name(ref.user_id))
        return pooled

    def _remove(self, slot_id: UUID) -> None:
        container = self.engine.get(pool_name(slot_id))
        if container is not None:
            thaw(container)
            container.remove(force=True, v=True)
        self.engine.remove_volume(pool_name(slot_id))

    # The agent

    async def _rotate(self, host: str, old: SecretStr, ref: MachineRef) -> None:
        """Give the agent the instance's secret and id, asked with the pool secret."""
        body = SecretRotation(
            secret=ref.agent_secret, instance_id=ref.instance_id
        ).model_dump_json()
        try:
            response = await self.engine.http.put(
                f"http://{host}/secret",
                content=body,
                headers={**_bearer(old), "Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"the slot's agent did not answer: {exc}") from exc
        if response.status_code != 204:
            raise ProviderFailure(
                f"the slot's agent refused its new secret ({response.status_code})"
            )

    async def _ready(self, name: str, machine: Machine, secret: SecretStr) -> Machine:
        async def where() -> str | None:
            container = await self.engine.call(self.engine.get, name)
            if container is None or container.status != "running":
                raise ProviderFailure(f"container {name} stopped while starting")
            return spec.host(self.options, container)

        host = await self.engine.ready(name, machine.host, secret, where)
        return Machine(machine.provider_id, True, host, secret)


def _bearer(secret: SecretStr) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret.get_secret_value()}"}
