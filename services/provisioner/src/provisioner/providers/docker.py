"""The docker provider: one hardened container and one data volume per user, on one engine.

Names are deterministic (container ``claude-{user_id}``, volume ``claude-data-{user_id}``, the
network from settings), so every call is idempotent: it looks first and only makes what is
missing. Everything it makes carries our labels; reconciliation only touches containers labelled
with this deployment. SDK calls block, so each runs in a worker thread. ``create`` and ``wake``
return only once the agent answers: ``running`` means usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import docker
import httpx
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container
from pydantic import SecretStr
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import RequestException

from .base import (
    Activity,
    Machine,
    MachineRef,
    OwnedMachine,
    ProviderError,
    ProviderFailure,
    ProviderUnavailable,
)

T = TypeVar("T")

LABEL_MANAGED = "io.claudecloud.managed"
LABEL_DEPLOYMENT = "io.claudecloud.deployment"
LABEL_INSTANCE = "io.claudecloud.instance-id"
LABEL_USER = "io.claudecloud.user-id"
LABEL_SIZE = "io.claudecloud.size"
DATA_PATH = "/claude-data"
API_VERSION = "1.41"  # Docker 20.10; newer engines serve it too, and no call is made to negotiate


@dataclass(frozen=True)
class DockerOptions:
    """What the provider makes and how it hardens it (from ``PROVISIONER_DOCKER_*``)."""

    url: str | None
    image: str
    network: str
    deployment: str
    memory: str
    cpus: float
    pids: int
    cap_add: tuple[str, ...]
    user: str
    agent_port: int
    publish_host: str
    ready_timeout: float
    stop_timeout: int
    api_timeout: float


def _size(ref: MachineRef) -> str:
    return f"cpus={ref.cpus},memory_mb={ref.memory_mb}"


def _resized(container: Container, ref: MachineRef) -> bool:
    """Whether the user's plan now gives another size than the container was made with."""
    return bool(ref.cpus or ref.memory_mb) and container.labels.get(LABEL_SIZE) != _size(ref)


def container_name(user_id: UUID) -> str:
    return f"claude-{user_id}"


def volume_name(user_id: UUID) -> str:
    return f"claude-data-{user_id}"


class DockerProvider:
    name = "docker"

    def __init__(self, options: DockerOptions) -> None:
        self.options = options
        self._client: docker.DockerClient | None = None
        self._network_ready = False
        self._network_lock = threading.Lock()  # two first creates must not make two networks
        self._http = httpx.AsyncClient(timeout=2.0)

    # The protocol

    async def create(self, ref: MachineRef) -> Machine:
        machine = await self._call(self._create, ref)
        return await self._ready(ref, machine)

    async def pause(self, ref: MachineRef) -> None:
        await self._call(self._stop, ref)

    async def wake(self, ref: MachineRef) -> Machine:
        machine = await self._call(self._create, ref)  # starts it; recreates it if it was lost
        return await self._ready(ref, machine)

    async def destroy(self, ref: MachineRef, *, purge: bool) -> None:
        await self._call(self._remove, ref, purge)

    async def inspect(self, ref: MachineRef) -> Machine | None:
        container = await self._call(self._find, ref.user_id)
        return self._machine(container) if container is not None else None

    async def activity(self, ref: MachineRef) -> Activity:
        return await self._call(self._activity, ref)

    async def inventory(self) -> list[OwnedMachine]:
        return await self._call(self._inventory)

    async def remove_orphan(self, machine: OwnedMachine) -> None:
        await self._call(self._remove_by_id, machine.provider_id)

    async def close(self) -> None:
        await self._http.aclose()
        if self._client is not None:
            self._client.close()

    # Blocking steps (worker threads)

    def _create(self, ref: MachineRef) -> Machine:
        self._ensure_network()
        self._ensure_volume(ref)
        container = self._find(ref.user_id)
        if container is not None and (
            container.labels.get(LABEL_INSTANCE) != str(ref.instance_id) or _resized(container, ref)
        ):
            # An earlier instance's leftover, or a plan change (made again at the new size on
            # wake). v=True removes anonymous volumes only: ours stays.
            container.remove(force=True, v=True)
            container = None
        if container is None:
            container = self._new_container(ref)
        if container.status != "running":
            container.start()
            container.reload()
        return self._machine(container)

    def _new_container(self, ref: MachineRef) -> Container:
        try:
            return self.client.containers.create(**self._spec(ref))
        except ImageNotFound:
            raise ProviderFailure(
                f"the instance image {self.options.image!r} does not exist on the Docker engine;"
                " build it with `make instance-image`"
            ) from None
        except APIError as exc:
            if exc.status_code != 409:
                raise
        found = self._find(ref.user_id)  # a concurrent create won the name: use its container
        if found is None:
            raise ProviderUnavailable(f"container {container_name(ref.user_id)} vanished")
        return found

    def _stop(self, ref: MachineRef) -> None:
        container = self._find(ref.user_id)
        if container is not None and container.status != "exited":
            container.stop(timeout=self.options.stop_timeout)

    def _remove(self, ref: MachineRef, purge: bool) -> None:
        container = self._find(ref.user_id)
        if container is not None:
            container.remove(force=True, v=True)  # v: anonymous volumes only
        if purge:
            with contextlib.suppress(NotFound):
                self.client.volumes.get(volume_name(ref.user_id)).remove(force=True)

    def _remove_by_id(self, provider_id: str) -> None:
        with contextlib.suppress(NotFound):
            self.client.containers.get(provider_id).remove(force=True, v=True)

    def _find(self, user_id: UUID) -> Container | None:
        """The user's container, or None; refuses one with our name that we did not make."""
        name = container_name(user_id)
        try:
            container: Container = self.client.containers.get(name)
        except NotFound:
            return None
        labels = container.labels
        if labels.get(LABEL_DEPLOYMENT) != self.options.deployment:
            raise ProviderFailure(
                f"name conflict: a container named {name} exists that this ClaudeCloud"
                f" deployment ({self.options.deployment}) did not make; remove or rename it"
            )
        return container

    def _activity(self, ref: MachineRef) -> Activity:
        container = self._find(ref.user_id)
        if container is None:
            return Activity(running=False, healthy=False, details={"status": "missing"})
        state = container.attrs["State"]
        running = container.status == "running"
        health = state.get("Health", {}).get("Status", "none")
        processes = len(container.top().get("Processes") or []) if running else 0
        return Activity(
            running=running,
            healthy=running and health in ("healthy", "none"),
            processes=processes,
            details={"status": container.status, "health": health},
            cpu_seconds=self._cpu_seconds(container) if running else None,
            oom_killed=bool(state.get("OOMKilled")),
            restarting=bool(state.get("Restarting")),
            restarts=int(container.attrs.get("RestartCount") or 0),
        )

    @staticmethod
    def _cpu_seconds(container: Container) -> float | None:
        try:
            stats = container.stats(stream=False, one_shot=True)
            return float(stats["cpu_stats"]["cpu_usage"]["total_usage"]) / 1e9
        except (APIError, KeyError, TypeError, ValueError, RequestException):
            return None

    def _inventory(self) -> list[OwnedMachine]:
        # ignore_removed: a container removed between the listing and its inspection is gone.
        found = self.client.containers.list(
            all=True,
            ignore_removed=True,
            filters={
                "label": [f"{LABEL_MANAGED}=true", f"{LABEL_DEPLOYMENT}={self.options.deployment}"]
            },
        )
        return [
            OwnedMachine(
                provider_id=c.id,
                instance_id=UUID(c.labels[LABEL_INSTANCE]),
                user_id=UUID(c.labels[LABEL_USER]),
                running=c.status == "running",
            )
            for c in found
        ]

    def _ensure_volume(self, ref: MachineRef) -> None:
        try:
            self.client.volumes.get(volume_name(ref.user_id))
        except NotFound:
            self.client.volumes.create(volume_name(ref.user_id), labels=self._labels(ref))

    def _ensure_network(self) -> None:
        with self._network_lock:
            if not self._network_ready:
                self._create_network_once()
                self._network_ready = True

    def _create_network_once(self) -> None:
        if not self.client.networks.list(names=[self.options.network]):
            try:
                self.client.networks.create(
                    self.options.network,
                    check_duplicate=True,
                    driver="bridge",
                    options={"com.docker.network.bridge.enable_icc": "false"},
                    labels={LABEL_MANAGED: "true", LABEL_DEPLOYMENT: self.options.deployment},
                )
            except APIError as exc:
                if exc.status_code != 409:
                    raise
        self._keep_one_network()

    def _keep_one_network(self) -> None:
        # Docker allows two networks of one name, and its duplicate check is not atomic: two
        # provisioners starting together can both make one. Every racer keeps the same one (the
        # oldest) and removes the rest, so containers never meet an "ambiguous" network.
        found = self.client.networks.list(names=[self.options.network])
        same_name = [n for n in found if n.name == self.options.network]
        same_name.sort(key=lambda n: (n.attrs.get("Created", ""), n.id))
        for extra in same_name[1:]:
            with contextlib.suppress(NotFound, APIError):
                extra.remove()

    # What a container is made of

    def _labels(self, ref: MachineRef) -> dict[str, str]:
        return {
            LABEL_MANAGED: "true",
            LABEL_DEPLOYMENT: self.options.deployment,
            LABEL_INSTANCE: str(ref.instance_id),
            LABEL_USER: str(ref.user_id),
            **({LABEL_SIZE: _size(ref)} if ref.cpus or ref.memory_mb else {}),
        }

    def _spec(self, ref: MachineRef) -> dict[str, Any]:
        o = self.options
        port = f"{o.agent_port}/tcp"
        return {
            "image": o.image,
            "name": container_name(ref.user_id),
            "hostname": "claude",
            "labels": self._labels(ref),
            "environment": {
                "AGENT_SECRET": secrets.token_urlsafe(32),
                "AGENT_PORT": str(o.agent_port),
            },
            "volumes": {volume_name(ref.user_id): {"bind": DATA_PATH, "mode": "rw"}},
            "network": o.network,
            "ports": {port: (o.publish_host, None)} if o.publish_host else {},
            "user": o.user,
            "init": True,
            "security_opt": ["no-new-privileges:true"],
            "cap_drop": ["ALL"],
            "cap_add": list(o.cap_add) or None,
            "mem_limit": f"{ref.memory_mb}m" if ref.memory_mb else o.memory,
            "memswap_limit": f"{ref.memory_mb}m" if ref.memory_mb else o.memory,
            "nano_cpus": int((ref.cpus or o.cpus) * 1e9),
            "pids_limit": o.pids,
            "stop_signal": "SIGTERM",
            "detach": True,
        }

    def _machine(self, container: Container) -> Machine:
        env = dict(e.split("=", 1) for e in container.attrs["Config"].get("Env") or [])
        secret = env.get("AGENT_SECRET")
        running = container.status == "running"
        return Machine(
            provider_id=container.id,
            running=running,
            host=self._host(container) if running else None,
            agent_secret=SecretStr(secret) if secret else None,
        )

    def _host(self, container: Container) -> str | None:
        settings = container.attrs["NetworkSettings"]
        if self.options.publish_host:
            bindings = (settings.get("Ports") or {}).get(f"{self.options.agent_port}/tcp") or []
            return f"{self.options.publish_host}:{bindings[0]['HostPort']}" if bindings else None
        address = (settings.get("Networks") or {}).get(self.options.network, {}).get("IPAddress")
        return f"{address}:{self.options.agent_port}" if address else None

    # Plumbing

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            kwargs: dict[str, Any] = {"version": API_VERSION, "timeout": self.options.api_timeout}
            if self.options.url:
                self._client = docker.DockerClient(base_url=self.options.url, **kwargs)
            else:
                self._client = docker.from_env(**kwargs)
        return self._client

    async def _call(self, step: Callable[..., T], *args: Any) -> T:
        """Run a blocking step in a thread; engine trouble becomes a retryable error."""
        try:
            return await asyncio.to_thread(step, *args)
        except ProviderError:
            raise
        except (RequestsConnectionError, RequestException) as exc:
            raise ProviderUnavailable(f"the Docker engine does not answer: {exc}") from exc
        except APIError as exc:
            error = ProviderUnavailable if exc.status_code >= 500 else ProviderFailure
            raise error(f"Docker engine refused: {exc.explanation or exc}") from exc
        except DockerException as exc:
            raise ProviderUnavailable(f"the Docker engine does not answer: {exc}") from exc

    async def _ready(self, ref: MachineRef, machine: Machine) -> Machine:
        """Wait until the agent answers with this instance's secret; that is ``running``."""
        deadline = time.monotonic() + self.options.ready_timeout
        headers = {"Authorization": f"Bearer {_secret(machine)}"}
        checks = 0
        while time.monotonic() < deadline:
            if machine.host and await self._answers(machine.host, headers):
                return machine
            checks += 1
            if checks % 50 == 0 or not machine.host:  # about once a second
                machine = await self._still_running(ref)
            await asyncio.sleep(0.02)
        raise ProviderUnavailable(
            f"the agent in {container_name(ref.user_id)} did not answer within"
            f" {self.options.ready_timeout:.0f}s"
        )

    async def _answers(self, host: str, headers: dict[str, str]) -> bool:
        try:
            response = await self._http.get(f"http://{host}/healthz", headers=headers)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def _still_running(self, ref: MachineRef) -> Machine:
        container = await self._call(self._find, ref.user_id)
        if container is None or container.status != "running":
            logs = await self._call(_tail_logs, container) if container is not None else ""
            raise ProviderFailure(
                f"container {container_name(ref.user_id)} stopped while starting: {logs}"
            )
        return self._machine(container)


def _secret(machine: Machine) -> str:
    return machine.agent_secret.get_secret_value() if machine.agent_secret else ""


def _tail_logs(container: Container) -> str:
    raw: bytes = container.logs(tail=5)
    return " | ".join(raw.decode(errors="replace").split("\n")).strip(" |")
