"""The kubernetes provider: a pod per running workstation and a volume claim per user, in one
namespace, through lightkube's async client.

Why lightkube (over kubernetes-asyncio and kr8s): its async client is typed end to end (per-
version models, ``py.typed``: mypy strict checks the manifests we build, where
kubernetes-asyncio's generated models need third-party stubs and kr8s's objects are untyped
dicts); it speaks HTTP through httpx, as the rest of the platform does; its watch resumes from
the last resource version when the server ends it; it reads kubeconfig files and in-cluster
service accounts; and it is small (no aiohttp, no generated API classes). It has no port-forward
or attach, which this provider does not need: the agent is reached at the pod's address.

As on Docker, names are deterministic (``manifests``) and every call idempotent: it looks first
and makes only what is missing. ``create`` and ``wake`` return once the agent answers with the
instance's secret (the pod's readiness alone is not ``running``). Pause deletes the pod and keeps
the claim; destroy also removes the agent's secret, and the claim with ``purge``. The agent's
secret lives in a Secret per user that the pod's environment references (issue 26 will move it
out of the environment on every provider); it is made once per instance, so pause and wake keep
it and a new instance gets a new one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar
from uuid import UUID

import httpx
import httpx2
from lightkube import AsyncClient, KubeConfig
from lightkube.config.kubeconfig import SingleConfig
from lightkube.core.exceptions import ApiError, ConfigError
from lightkube.resources.core_v1 import PersistentVolumeClaim, Pod, Secret
from lightkube.resources.networking_v1 import NetworkPolicy
from pydantic import SecretStr

from claudecloud_common.contracts.instances import HostMemory
from claudecloud_common.contracts.providers import ProviderKind

from ..base import (
    Activity,
    AgentUnreachable,
    Machine,
    MachineRef,
    OwnedMachine,
    ProviderError,
    ProviderFailure,
    ProviderUnavailable,
)
from . import manifests as m
from .pods import (
    activity_of,
    host_of,
    is_up,
    needs_replacing,
    pod_is_gone,
    started,
    what_it_says,
)

R = TypeVar("R", Pod, PersistentVolumeClaim, Secret, NetworkPolicy)

WATCH_SECONDS = 60
"""Each watch asks the server to end it after this long (it is then started again): a
connection that died silently never holds a wait past it."""
GONE_MARGIN_SECONDS = 30.0
"""How much longer than the grace period a pod may take to go (the kubelet's own work)."""


class KubernetesProvider:
    name = ProviderKind.KUBERNETES
    pool = None

    def __init__(self, options: m.KubernetesOptions) -> None:
        self.options = options
        self._client: AsyncClient | None = None
        self._policy_ready = False
        self._policy_lock = asyncio.Lock()  # two first creates must not race on the policy
        self._http = httpx.AsyncClient(timeout=2.0)

    # The protocol

    async def create(self, ref: MachineRef) -> Machine:
        async with self._api():
            await self._ensure_policy()
            await self._ensure_claim(ref)
            pod = await self._ensure_pod(ref)
            token = await self._ensure_secret(ref)
        return await self._ready(ref, pod, token)

    async def pause(self, ref: MachineRef, *, keep_memory: bool) -> None:
        # A pod cannot be frozen (the capability says so): a pause always deletes it.
        async with self._api():
            await self._delete_pod(ref.user_id)

    async def wake(self, ref: MachineRef) -> Machine:
        return await self.create(ref)  # the claim is there: a pod is made again on it

    async def destroy(self, ref: MachineRef, *, purge: bool) -> None:
        async with self._api():
            await self._delete_pod(ref.user_id)
            await self._delete(Secret, m.secret_name(ref.user_id))
            if purge:
                await self._delete(PersistentVolumeClaim, m.claim_name(ref.user_id))

    async def inspect(self, ref: MachineRef) -> Machine | None:
        async with self._api():
            pod = await self._find_pod(ref.user_id)
            if pod is not None:
                return self._machine(pod, await self._token(ref.user_id))
            claim = await self._get(PersistentVolumeClaim, m.claim_name(ref.user_id))
        # No pod but the user's data: stopped, as a paused instance is.
        return Machine(provider_id=_uid(claim), running=False) if claim is not None else None

    async def activity(self, ref: MachineRef) -> Activity:
        async with self._api():
            pod = await self._find_pod(ref.user_id)
        return activity_of(pod)

    async def inventory(self) -> list[OwnedMachine]:
        async with self._api():
            selector: dict[str, Any] = {**m.ours(self.options)}
            pods = self.client.list(Pod, namespace=self.options.namespace, labels=selector)
            return [_owned(pod) async for pod in pods]

    async def host_memory(self) -> HostMemory | None:
        return None  # pods spread over a cluster's nodes: no one host to speak of

    async def remove_orphan(self, machine: OwnedMachine) -> None:
        if machine.user_id is None:
            return  # not a pod of ours: every one of ours says whose it is
        async with self._api():
            pod = await self._find_pod(machine.user_id)
            # Only that very pod: a new instance's pod of the same name is not an orphan.
            if pod is not None and _uid(pod) == machine.provider_id:
                await self._delete(Pod, m.pod_name(machine.user_id))

    async def close(self) -> None:
        await self._http.aclose()
        if self._client is not None:
            await self._client.close()

    # Steps

    async def _ensure_policy(self) -> None:
        """The namespace's NetworkPolicy as the settings say, made or corrected once per
        process (as the docker provider makes its network)."""
        async with self._policy_lock:
            if self._policy_ready:
                return
            wanted = m.network_policy(self.options)
            found = await self._get(NetworkPolicy, m.POLICY_NAME)
            if found is None:
                await self._create(wanted)
            elif found.spec != wanted.spec:
                wanted.metadata.resourceVersion = found.metadata.resourceVersion  # type: ignore[union-attr]
                await self.client.replace(wanted)
            self._policy_ready = True

    async def _ensure_claim(self, ref: MachineRef) -> None:
        if await self._get(PersistentVolumeClaim, m.claim_name(ref.user_id)) is None:
            await self._create(m.claim(self.options, ref))

    async def _ensure_secret(self, ref: MachineRef) -> str:
        """This instance's agent secret: the one made for it, or a new one (a new instance)."""
        found = await self._get(Secret, m.secret_name(ref.user_id))
        if found is not None and _labels(found).get(m.LABEL_INSTANCE) == str(ref.instance_id):
            if m.CREDENTIAL_KEY in (found.data or {}):
                return _decode(found)
            wanted = m.secret(self.options, ref, _decode(found))  # made before the credential
        else:
            wanted = m.secret(self.options, ref, secrets.token_urlsafe(32))
        if found is None:
            made = await self._create(wanted)
            return _decode(made) if made is not None else await self._ensure_secret(ref)
        wanted.metadata.resourceVersion = found.metadata.resourceVersion  # type: ignore[union-attr]
        return _decode(await self.client.replace(wanted))

    async def _ensure_pod(self, ref: MachineRef) -> Pod:
        """The user's pod for this instance: kept when it is this instance's at this size and
        alive; otherwise (an earlier instance's, a plan change, a pod that ended) made again."""
        pod = await self._find_pod(ref.user_id)
        if pod is not None and needs_replacing(pod, ref):
            await self._delete_pod(ref.user_id)
            pod = None
        if pod is not None:
            return pod
        await self._ensure_secret(ref)  # before the pod: its environment references it
        made = await self._create(m.pod(self.options, ref))
        if made is None:  # a concurrent create won the name: use its pod
            made = await self._find_pod(ref.user_id)
        if made is None:
            raise ProviderUnavailable(f"pod {m.pod_name(ref.user_id)} vanished")
        return made

    async def _delete_pod(self, user_id: UUID) -> None:
        """Delete the pod (the grace period lets tmux and the agent stop) and wait until it is
        gone, so a wake after it never meets the old one."""
        name = m.pod_name(user_id)
        if await self._find_pod(user_id) is None:
            return
        await self._delete(Pod, name, grace_period=self.options.stop_timeout)
        limit = self.options.stop_timeout + GONE_MARGIN_SECONDS
        try:
            async with asyncio.timeout(limit):
                await self._follow(name, pod_is_gone)
        except TimeoutError:
            raise ProviderUnavailable(
                f"pod {name} is still terminating after {limit:.0f}s"
            ) from None

    async def _find_pod(self, user_id: UUID) -> Pod | None:
        """The user's pod, or None; refuses one with our name that we did not make."""
        pod = await self._get(Pod, m.pod_name(user_id))
        if pod is not None and _labels(pod).get(m.LABEL_DEPLOYMENT) != self.options.deployment:
            raise ProviderFailure(
                f"name conflict: a pod named {m.pod_name(user_id)} exists in namespace"
                f" {self.options.namespace} that this ClaudeCloud deployment"
                f" ({self.options.deployment}) did not make; remove or rename it"
            )
        return pod

    async def _token(self, user_id: UUID) -> str | None:
        found = await self._get(Secret, m.secret_name(user_id))
        return _decode(found) if found is not None else None

    # Waiting

    async def _ready(self, ref: MachineRef, pod: Pod, token: str) -> Machine:
        """Wait until the pod runs and its agent answers with this instance's secret; that is
        ``running``. What the pod said last is in the error when it does not."""
        name = m.pod_name(ref.user_id)
        seen: list[Pod | None] = [pod]

        def record(found: Pod | None) -> bool:
            seen.append(found)
            return started(found)

        try:
            async with asyncio.timeout(self.options.ready_timeout), self._api():
                up = await self._follow(name, record)
                host, checks = host_of(up, self.options.agent_port), 0
                while not await self._answers(host, token):
                    checks += 1
                    if checks % 20 == 0:  # about once a second: a pod that ended says so now
                        record(await self._get(Pod, name))
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AgentUnreachable(
                f"the agent in pod {name} did not answer within"
                f" {self.options.ready_timeout:.0f}s ({what_it_says(seen[-1])})"
            ) from None
        return self._machine(up, token)

    async def _follow(self, name: str, done: Callable[[Pod | None], bool]) -> Pod:
        """Read the pod, then follow its changes until ``done`` says so of it (None: gone).
        A watch the server ends is started again from the last version seen (lightkube); one
        whose version expired (410) starts again from a fresh read."""
        while True:
            pod = await self._get(Pod, name)
            if done(pod):
                return pod  # type: ignore[return-value]  # None only when done says gone is it
            version = pod.metadata.resourceVersion if pod and pod.metadata else None
            try:
                async for kind, changed in self._watch(name, version):
                    current = None if kind == "DELETED" else changed
                    if done(current):
                        return current  # type: ignore[return-value]
            except ApiError as exc:
                if exc.status.code != 410:
                    raise

    def _watch(self, name: str, version: str | None) -> AsyncIterator[tuple[str, Pod]]:
        watch = self.client.watch(
            Pod,
            namespace=self.options.namespace,
            fields={"metadata.name": name},
            resource_version=version,
            server_timeout=WATCH_SECONDS,
        )
        return aiter(watch)

    async def _answers(self, host: str, token: str) -> bool:
        headers = {"Authorization": f"Bearer {token}"}
        try:
            response = await self._http.get(f"http://{host}/healthz", headers=headers)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    # What the provider reports

    def _machine(self, pod: Pod, token: str | None) -> Machine:
        running = is_up(pod)
        return Machine(
            provider_id=_uid(pod),
            running=running,
            host=host_of(pod, self.options.agent_port) if running else None,
            agent_secret=SecretStr(token) if token else None,
        )

    # Plumbing

    @property
    def client(self) -> AsyncClient:
        if self._client is None:
            self._client = AsyncClient(
                self._config(),
                namespace=self.options.namespace,
                timeout=httpx2.Timeout(self.options.api_timeout),
                lazy=False,
                field_manager="claudecloud-provisioner",
                trust_env=False,
            )
        return self._client

    def _config(self) -> KubeConfig | SingleConfig:
        """The kubeconfig file from settings (its context, or the current one), else the
        service account of the pod the provisioner runs in."""
        if not self.options.kubeconfig:
            return KubeConfig.from_service_account()
        config = KubeConfig.from_file(self.options.kubeconfig)
        if not self.options.context:
            return config
        chosen = config.get(context_name=self.options.context)
        if chosen is None:
            raise ConfigError(f"the kubeconfig has no context {self.options.context!r}")
        return chosen

    async def _get(self, kind: type[R], name: str) -> R | None:
        try:
            return await self.client.get(kind, name, namespace=self.options.namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                return None
            raise

    async def _create(self, obj: R) -> R | None:
        """Make ``obj``; None when one of its name exists already (409: a concurrent call)."""
        try:
            return await self.client.create(obj)
        except ApiError as exc:
            if exc.status.code == 409:
                return None
            raise

    async def _delete(
        self,
        kind: type[Pod | PersistentVolumeClaim | Secret],
        name: str,
        *,
        grace_period: int | None = None,
    ) -> None:
        try:
            await self.client.delete(
                kind, name, namespace=self.options.namespace, grace_period=grace_period
            )
        except ApiError as exc:
            if exc.status.code != 404:
                raise

    @contextlib.asynccontextmanager
    async def _api(self) -> AsyncIterator[None]:
        """API server trouble becomes a retryable error; a refusal, a permanent one."""
        try:
            yield
        except ProviderError:
            raise
        except ApiError as exc:
            code, reason = exc.status.code or 0, exc.status.message or exc.status.reason
            error = ProviderUnavailable if code >= 500 or code == 429 else ProviderFailure
            raise error(f"the Kubernetes API server refused ({code}): {reason}") from exc
        except (httpx2.HTTPError, OSError) as exc:
            raise ProviderUnavailable(f"the Kubernetes API server does not answer: {exc}") from exc
        except ConfigError as exc:
            raise ProviderFailure(f"the Kubernetes configuration is unusable: {exc}") from exc


def _labels(obj: Pod | Secret) -> dict[str, str]:
    return (obj.metadata.labels if obj.metadata else None) or {}


def _uid(obj: Pod | PersistentVolumeClaim) -> str:
    return (obj.metadata.uid if obj.metadata else None) or ""


def _decode(found: Secret) -> str:
    raw = (found.data or {}).get(m.SECRET_KEY, "")
    return base64.b64decode(raw).decode()


def _owned(pod: Pod) -> OwnedMachine:
    labels = _labels(pod)
    return OwnedMachine(
        provider_id=_uid(pod),
        instance_id=UUID(labels[m.LABEL_INSTANCE]),
        user_id=UUID(labels[m.LABEL_USER]),
        running=is_up(pod),
    )
