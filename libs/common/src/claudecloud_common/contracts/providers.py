"""Compute providers as every service may know them: a kind and what it can do.

The provisioner owns providers and is the only service that names one. Everyone else reads
capabilities (``capabilities(view.provider).mesh``), so a new provider is one entry here and one
implementation in the provisioner, and nothing branches on ``"hetzner"`` elsewhere.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict

__all__ = [
    "CAPABILITIES",
    "KUBERNETES_NAMESPACE",
    "Capabilities",
    "ConnectVia",
    "ProviderKind",
    "capabilities",
    "needs_mesh",
]


class ProviderKind(StrEnum):
    DOCKER = "docker"
    HETZNER = "hetzner"
    KUBERNETES = "kubernetes"
    FAKE = "fake"
    """In-memory machines for tests and the labelled demo: nothing to connect to."""


KUBERNETES_NAMESPACE = "claudecloud-workstations"
"""Where the kubernetes provider's workstations live by default: the provisioner's
``PROVISIONER_KUBERNETES_NAMESPACE`` and the connect script's default namespace both read it."""


class ConnectVia(StrEnum):
    """How ``/connect.sh`` reaches a running instance's tmux session from a user's machine."""

    DOCKER_EXEC = "docker_exec"
    """``docker exec`` on the Docker host (the script runs there)."""
    KUBECTL_EXEC = "kubectl_exec"
    """``kubectl exec`` into the user's pod (the script runs where kubectl reaches the cluster;
    the namespace is :data:`KUBERNETES_NAMESPACE` unless ``CLAUDECLOUD_NAMESPACE`` says so)."""
    MESH_SSH = "mesh_ssh"
    """Join the user's private mesh, then mosh or ssh to the machine's mesh address."""
    NOTHING = "nothing"
    """No real machine: the demo mode."""


class Capabilities(BaseModel):
    """What a provider's machines can do, for every service that needs to know."""

    model_config = ConfigDict(frozen=True)

    mesh: bool = False
    """Machines join the user's Netbird mesh: a create waits for the netbird service's saga."""
    keeps_memory: bool = False
    """A pause can freeze the machine (memory and every process kept) instead of stopping it."""
    warm_pool: bool = False
    """Creates can claim an already started machine from a pool."""
    agent: bool = True
    """The machine runs the instance agent (false only for the demo's simulated machines)."""
    connect: ConnectVia = ConnectVia.NOTHING


CAPABILITIES: MappingProxyType[ProviderKind, Capabilities] = MappingProxyType(
    {
        ProviderKind.DOCKER: Capabilities(
            keeps_memory=True, warm_pool=True, connect=ConnectVia.DOCKER_EXEC
        ),
        ProviderKind.HETZNER: Capabilities(mesh=True, connect=ConnectVia.MESH_SSH),
        # Pause deletes the pod (its volume claim stays): no memory is kept.
        ProviderKind.KUBERNETES: Capabilities(connect=ConnectVia.KUBECTL_EXEC),
        ProviderKind.FAKE: Capabilities(keeps_memory=True, agent=False),
    }
)


def capabilities(kind: ProviderKind) -> Capabilities:
    """What machines of ``kind`` can do."""
    return CAPABILITIES[kind]


def needs_mesh(name: str | None) -> bool:
    """Whether a provider named in a setting or a report (``PROVIDER=hetzner``) joins its
    machines to a mesh, so the netbird service must run; False for an unknown name."""
    known = {kind.value: kind for kind in ProviderKind}
    return name in known and capabilities(known[name]).mesh
