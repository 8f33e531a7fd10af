"""The Docker engine as the provider and the warm pool use it: one client, blocking calls run in
worker threads with the engine's errors turned into provider errors, the instances' network, and
the wait for an agent to answer."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import docker
import httpx
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container
from pydantic import SecretStr
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import RequestException

from ..base import (
    AgentUnreachable,
    ProviderError,
    ProviderFailure,
    ProviderUnavailable,
)
from .spec import API_VERSION, LABEL_DEPLOYMENT, LABEL_MANAGED, DockerOptions, secret_archive

T = TypeVar("T")


class DockerEngine:
    def __init__(self, options: DockerOptions) -> None:
        self.options = options
        self._client: docker.DockerClient | None = None
        self._network_ready = False
        self._network_lock = threading.Lock()  # two first creates must not make two networks
        self.http = httpx.AsyncClient(timeout=2.0)

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            kwargs: dict[str, Any] = {"version": API_VERSION, "timeout": self.options.api_timeout}
            if self.options.url:
                self._client = docker.DockerClient(base_url=self.options.url, **kwargs)
            else:
                self._client = docker.from_env(**kwargs)
        return self._client

    async def call(self, step: Callable[..., T], *args: Any) -> T:
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

    async def close(self) -> None:
        await self.http.aclose()
        if self._client is not None:
            self._client.close()

    # Blocking steps

    def get(self, name: str) -> Container | None:
        """The container called ``name``, or None; refuses one this deployment did not make."""
        try:
            container: Container = self.client.containers.get(name)
        except NotFound:
            return None
        if container.labels.get(LABEL_DEPLOYMENT) != self.options.deployment:
            raise ProviderFailure(
                f"name conflict: a container named {name} exists that this ClaudeCloud"
                f" deployment ({self.options.deployment}) did not make; remove or rename it"
            )
        return container

    def new_container(self, spec: dict[str, Any]) -> Container:
        """Create the container from ``spec`` (not started); one that a concurrent create made
        first under the same name is used instead."""
        self.ensure_network()
        try:
            container: Container = self.client.containers.create(**spec)
        except ImageNotFound:
            raise ProviderFailure(
                f"the instance image {self.options.image!r} does not exist on the Docker engine;"
                " build it with `make instance-image`"
            ) from None
        except APIError as exc:
            if exc.status_code != 409:
                raise
            found = self.get(spec["name"])
            if found is None:
                raise ProviderUnavailable(f"container {spec['name']} vanished") from None
            return found
        return container

    def start(self, container: Container, secret: SecretStr) -> None:
        """Start (or thaw) ``container``, its agent's secret put in its file first: again at
        every start, so one made by an interrupted try (the engine lost between the create
        and the file) gets it too."""
        if container.status == "paused":
            container.unpause()
        elif container.status != "running":
            container.put_archive("/", secret_archive(secret, self.options.user_id))
            container.start()
        container.reload()

    def ensure_volume(self, name: str, labels: dict[str, str]) -> None:
        try:
            self.client.volumes.get(name)
        except NotFound:
            self.client.volumes.create(name, labels=labels)

    def remove_volume(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            self.client.volumes.get(name).remove(force=True)

    def ensure_network(self) -> None:
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

    # The agent

    async def ready(
        self, name: str, host: str | None, secret: SecretStr, refresh: Callable[[], Any]
    ) -> str:
        """Wait until the agent at ``host`` answers with ``secret``; its address. ``refresh``
        (about once a second, and while there is no address) says where it is now, and raises
        when the container stopped."""
        deadline = time.monotonic() + self.options.ready_timeout
        headers = {"Authorization": f"Bearer {secret.get_secret_value()}"}
        checks = 0
        while time.monotonic() < deadline:
            if host and await self.answers(host, headers):
                return host
            checks += 1
            if checks % 50 == 0 or not host:
                host = await refresh()
            await asyncio.sleep(0.02)
        raise AgentUnreachable(
            f"the agent in {name} did not answer within {self.options.ready_timeout:.0f}s"
        )

    async def answers(self, host: str, headers: dict[str, str]) -> bool:
        try:
            response = await self.http.get(f"http://{host}/healthz", headers=headers)
        except httpx.HTTPError:
            return False
        return response.status_code == 200


def thaw(container: Container) -> None:
    if container.status == "paused":
        container.unpause()
        container.reload()


def tail_logs(container: Container) -> str:
    raw: bytes = container.logs(tail=5)
    return " | ".join(raw.decode(errors="replace").split("\n")).strip(" |")


def usage(container: Container) -> dict[str, Any]:
    """CPU time and memory held, from one stats sample (a frozen container is sampled too)."""
    try:
        stats = container.stats(stream=False, one_shot=True)
    except (APIError, RequestException):
        return {}
    found: dict[str, Any] = {}
    with contextlib.suppress(KeyError, TypeError, ValueError):
        found["cpu_seconds"] = float(stats["cpu_stats"]["cpu_usage"]["total_usage"]) / 1e9
    with contextlib.suppress(KeyError, TypeError, ValueError):
        found["memory_bytes"] = int(stats["memory_stats"]["usage"])
    return found
