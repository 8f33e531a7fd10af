"""The kubernetes provider's whole lifecycle against the stand-in API server: what a pod and a
volume claim go through, what the agent's secret is, and what goes wrong (a create that meets
its own pod, a pod that never becomes ready, an image that cannot be pulled, a watch that ends,
versions that expired, a foreign pod, an API server that does not answer)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from provisioner.providers.base import (
    AgentUnreachable,
    MachineRef,
    OwnedMachine,
    ProviderFailure,
    ProviderUnavailable,
)
from provisioner.providers.kubernetes import KubernetesProvider
from tests.fakes.kubernetes import StandIn
from tests.support import eventually

from .conftest import options_for


def ref(user: uuid.UUID | None = None, **size: Any) -> MachineRef:
    return MachineRef(uuid.uuid4(), user or uuid.uuid4(), **size)


async def answers(host: str | None, secret: str) -> bool:
    async with httpx.AsyncClient(timeout=3) as client:
        response = await client.get(
            f"http://{host}/healthz", headers={"Authorization": f"Bearer {secret}"}
        )
    return response.status_code == 200


def stored(stand_in: StandIn, plural: str, name: str) -> dict[str, Any] | None:
    return stand_in.api.get(plural, stand_in.namespace, name)


async def test_a_workstation_lives_through_pause_wake_and_destroy(
    provider: KubernetesProvider, stand_in: StandIn
) -> None:
    first = ref(cpus=2.0, memory_mb=4096, disk_gb=40)
    user = first.user_id
    made = await provider.create(first)
    assert made.running
    assert made.host is not None
    assert made.host.endswith(f":{stand_in.kubelet.agent_port}")
    assert made.agent_secret is not None
    secret = made.agent_secret.get_secret_value()
    assert await answers(made.host, secret)  # running means the agent answers

    pod = stored(stand_in, "pods", f"claude-{user}")
    assert pod is not None
    assert pod["metadata"]["labels"]["io.claudecloud.instance-id"] == str(first.instance_id)
    [box] = pod["spec"]["containers"]
    assert box["resources"]["limits"] == {"cpu": "2000m", "memory": "4096Mi"}
    assert box["resources"]["requests"] == box["resources"]["limits"]
    assert secret not in str(pod)  # referenced from the Secret, never a literal in the pod
    claim = stored(stand_in, "persistentvolumeclaims", f"claude-data-{user}")
    assert claim is not None
    assert claim["spec"]["resources"]["requests"]["storage"] == "40Gi"
    volume = stand_in.kubelet.volume(stand_in.namespace, f"claude-data-{user}")
    assert volume is not None
    (volume / "notes.txt").write_text("my work")

    await provider.pause(first, keep_memory=False)
    assert stored(stand_in, "pods", f"claude-{user}") is None  # compute gone...
    paused = await provider.inspect(first)
    assert paused is not None
    assert not paused.running  # ...the data kept: stopped, as paused is

    woken = await provider.wake(first)
    assert woken.running
    assert woken.agent_secret == made.agent_secret  # one instance, one secret
    assert await answers(woken.host, secret)
    assert (volume / "notes.txt").read_text() == "my work"

    await provider.destroy(first, purge=False)
    assert stored(stand_in, "pods", f"claude-{user}") is None
    assert stored(stand_in, "secrets", f"claude-agent-{user}") is None
    assert (volume / "notes.txt").read_text() == "my work"

    second = ref(user)
    again = await provider.create(second)
    assert again.agent_secret is not None
    assert again.agent_secret != made.agent_secret  # a new instance gets a new secret
    assert (volume / "notes.txt").read_text() == "my work"
    await provider.destroy(second, purge=True)
    assert await provider.inspect(second) is None
    assert not volume.exists()


async def test_a_create_that_meets_its_own_pod_uses_it(
    provider: KubernetesProvider, stand_in: StandIn
) -> None:
    """Two calls for one instance (a redelivered command beside the first): the second's
    create answers 409 AlreadyExists, and it takes the pod the first made."""
    wanted = ref()
    held = stand_in.api.hold("create", "pods")
    late = asyncio.create_task(provider.create(wanted))
    await held.arrived.wait()
    other = KubernetesProvider(options_for(stand_in))
    try:
        early = await other.create(wanted)
    finally:
        await other.close()
    held.released.set()
    found = await late
    assert stand_in.api.count("create", "pods", 409) == 1
    assert found.provider_id == early.provider_id
    assert found.agent_secret == early.agent_secret
    assert len(stand_in.api.all("pods")) == 1


async def test_a_pod_that_never_becomes_ready_is_an_unreachable_agent(
    stand_in: StandIn,
) -> None:
    stand_in.kubelet.mode = "hang"
    provider = KubernetesProvider(options_for(stand_in, ready_timeout=1.0))
    try:
        with pytest.raises(AgentUnreachable, match="did not answer within 1s") as raised:
            await provider.create(ref())
    finally:
        await provider.close()
    assert "phase Pending" in str(raised.value)
    assert "ContainerCreating" in str(raised.value)  # what the pod said last


async def test_an_image_that_cannot_be_pulled_fails_naming_it(stand_in: StandIn) -> None:
    stand_in.kubelet.mode = "bad-image"
    provider = KubernetesProvider(options_for(stand_in, image="registry.example/none:1"))
    try:
        with pytest.raises(ProviderFailure, match="ImagePullBackOff") as raised:
            await provider.create(ref())
    finally:
        await provider.close()
    assert "registry.example/none:1" in str(raised.value)


async def test_a_watch_the_server_ends_is_followed_again(
    provider: KubernetesProvider, stand_in: StandIn
) -> None:
    api, kubelet = stand_in.api, stand_in.kubelet
    api.end_watches_after = 1  # every watch ends after its first event
    kubelet.gate = asyncio.Event()  # the pod stays Pending (its image being pulled)
    wanted = ref()
    creating = asyncio.create_task(provider.create(wanted))
    await eventually(lambda: bool(api.watchers), what="the provider watching its pod")

    pod = stored(stand_in, "pods", f"claude-{wanted.user_id}")
    assert pod is not None
    api.put("pods", pod)  # a change that is not the one awaited: the watch ends after it
    await eventually(lambda: api.watches_ended == 1 and bool(api.watchers), what="a second watch")
    kubelet.gate.set()
    made = await creating
    assert made.running
    assert await answers(made.host, made.agent_secret.get_secret_value())  # type: ignore[union-attr]


async def test_expired_versions_start_the_wait_again(
    provider: KubernetesProvider, stand_in: StandIn
) -> None:
    wanted = ref()
    await provider.create(wanted)
    api, kubelet = stand_in.api, stand_in.kubelet
    api.expire_versions()  # the next watch from a version answers 410 Gone
    kubelet.stop_gate = asyncio.Event()  # the pod takes its time to stop
    pausing = asyncio.create_task(provider.pause(wanted, keep_memory=False))
    await eventually(lambda: api.expired_answered == 1, what="the 410 answered")
    kubelet.stop_gate.set()
    await pausing
    assert stored(stand_in, "pods", f"claude-{wanted.user_id}") is None


async def test_inventory_lists_our_pods_and_an_orphan_goes_alone(
    provider: KubernetesProvider, stand_in: StandIn
) -> None:
    alice, bob = ref(), ref()
    made = {r.user_id: await provider.create(r) for r in (alice, bob)}
    found = {m.user_id: m for m in await provider.inventory()}
    assert set(found) == {alice.user_id, bob.user_id}
    assert found[alice.user_id].instance_id == alice.instance_id
    assert found[alice.user_id].running

    stale = OwnedMachine("an-older-pods-uid", alice.instance_id, alice.user_id, running=True)
    await provider.remove_orphan(stale)  # not that very pod any more: left alone
    assert stored(stand_in, "pods", f"claude-{alice.user_id}") is not None
    await provider.remove_orphan(found[bob.user_id])
    assert made[bob.user_id].provider_id == found[bob.user_id].provider_id
    gone = stored(stand_in, "pods", f"claude-{bob.user_id}")
    assert gone is None or gone["metadata"].get("deletionTimestamp")
    assert stored(stand_in, "persistentvolumeclaims", f"claude-data-{bob.user_id}") is not None


async def test_a_foreign_pod_with_the_name_is_a_clear_conflict(
    provider: KubernetesProvider, stand_in: StandIn
) -> None:
    wanted = ref()
    name = f"claude-{wanted.user_id}"
    foreign = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": stand_in.namespace, "uid": "theirs"},
        "spec": {"containers": [{"name": "app", "image": "someone/else"}]},
    }
    stand_in.api.put("pods", foreign, "ADDED")
    with pytest.raises(ProviderFailure, match=f"name conflict: a pod named {name}"):
        await provider.create(wanted)
    assert stored(stand_in, "pods", name) is not None  # not ours to remove


async def test_an_api_server_that_does_not_answer_is_retryable(stand_in: StandIn) -> None:
    config = stand_in.kubeconfig
    config.write_text(config.read_text().replace(stand_in.url, "http://127.0.0.1:9"))
    provider = KubernetesProvider(options_for(stand_in))
    try:
        with pytest.raises(ProviderUnavailable, match="does not answer"):
            await provider.inspect(ref())
    finally:
        await provider.close()


async def test_a_refused_token_is_a_failure_that_says_so(stand_in: StandIn) -> None:
    config = stand_in.kubeconfig
    config.write_text(config.read_text().replace(stand_in.api.token, "not-the-token"))
    provider = KubernetesProvider(options_for(stand_in))
    try:
        with pytest.raises(ProviderFailure, match=r"refused \(401\)"):
            await provider.inspect(ref())
    finally:
        await provider.close()
    stand_in.api.refused.clear()  # the refusal was the point
