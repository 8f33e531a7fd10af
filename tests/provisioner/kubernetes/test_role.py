"""The provisioner's Role (deploy/kubernetes/provisioner.yaml) allows exactly the verbs the
provider was seen to use, on a tour of every call it makes and every path of them (a policy
that drifted, a new instance over an earlier one's secret, an orphan); and every object it sent
is valid for the Kubernetes versions we support (kubernetes-validate, strict, offline)."""

from __future__ import annotations

import uuid

from provisioner.providers.base import MachineRef
from provisioner.providers.kubernetes import KubernetesProvider
from tests.deploy.kubernetes_manifests import VERSIONS, problems, role_verbs
from tests.fakes.kubernetes import StandIn

from .conftest import options_for


async def test_the_role_allows_exactly_what_the_provider_uses(
    provider: KubernetesProvider, stand_in: StandIn
) -> None:
    user = uuid.uuid4()
    first, second = MachineRef(uuid.uuid4(), user), MachineRef(uuid.uuid4(), user)
    await provider.create(first)  # a new namespace: the policy made
    # Restarted with other settings: the policy follows them.
    restarted = KubernetesProvider(options_for(stand_in, agent_clients={"team": "platform"}))
    try:
        await restarted.create(second)  # an earlier instance's pod and secret: replaced
        await restarted.activity(second)
        await restarted.pause(second, keep_memory=False)
        assert await restarted.inspect(second) is not None  # the claim: stopped
        await restarted.wake(second)
        [owned] = await restarted.inventory()
        await restarted.remove_orphan(owned)
        await restarted.destroy(second, purge=True)
    finally:
        await restarted.close()

    assert stand_in.api.count("create", "networkpolicies") == 1
    assert stand_in.api.count("update", "networkpolicies") == 1
    assert stand_in.api.count("update", "secrets") == 1
    assert stand_in.api.verbs == role_verbs()


async def test_every_object_the_provider_sent_is_valid_kubernetes(
    provider: KubernetesProvider, stand_in: StandIn
) -> None:
    sized = MachineRef(uuid.uuid4(), uuid.uuid4(), cpus=0.5, memory_mb=1536, disk_gb=30)
    await provider.create(sized)
    await provider.create(MachineRef(uuid.uuid4(), sized.user_id))  # replacing what was there
    sent = stand_in.api.received
    assert {obj["kind"] for obj in sent} == {
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "Secret",
        "Pod",
    }
    found = [problems(obj, version) for obj in sent for version in VERSIONS]
    assert [p for p in found if p] == []
