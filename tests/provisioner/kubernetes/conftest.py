"""The kubernetes provider against the stand-in API server (``tests/fakes/kubernetes``), whose
kubelet runs each pod's agent at an address of its own on the loopback range."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from provisioner.providers.factory import kubernetes_options
from provisioner.providers.kubernetes import KubernetesOptions, KubernetesProvider
from provisioner.settings import ProvisionerSettings
from tests.fakes.kubernetes import StandIn, StubAgents, free_agent_port, serve_kubernetes


@pytest.fixture
async def stand_in(tmp_path: Path) -> AsyncIterator[StandIn]:
    async with serve_kubernetes(tmp_path, StubAgents(), agent_port=free_agent_port()) as served:
        yield served
        assert served.problems() == []  # every request was the document's, every answer too


def options_for(served: StandIn, **changes: object) -> KubernetesOptions:
    """The provider's options as ``PROVISIONER_KUBERNETES_*`` gives them, aimed at the stand-in."""
    settings = ProvisionerSettings(
        provider="kubernetes",
        kubernetes_kubeconfig=served.kubeconfig,
        kubernetes_namespace=served.namespace,
        kubernetes_agent_port=served.kubelet.agent_port,
        kubernetes_ready_timeout_seconds=20,
        kubernetes_stop_timeout_seconds=2,
    )
    return replace(kubernetes_options(settings), **changes)  # type: ignore[arg-type]


@pytest.fixture
async def provider(stand_in: StandIn) -> AsyncIterator[KubernetesProvider]:
    made = KubernetesProvider(options_for(stand_in))
    yield made
    await made.close()
