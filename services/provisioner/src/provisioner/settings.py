"""Provisioner settings (``PROVISIONER_*``, then the plain names)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import ClassVar, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from claudecloud_common.contracts.providers import KUBERNETES_NAMESPACE, ProviderKind
from claudecloud_common.settings import ServiceSettings

PROVIDERS = tuple(ProviderKind)
"""The providers this build has; the factory makes each."""
IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
"""Where a pod finds its service account's token: the provisioner runs inside the cluster."""
PRIVATE_CIDRS = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "127.0.0.0/8",
)


class ProvisionerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROVISIONER_", extra="ignore", frozen=True)
    service_name: ClassVar[str] = "provisioner"

    http_port: int = 8101

    provider: ProviderKind | None = None
    """``docker``, ``kubernetes``, ``hetzner`` (with the netbird service), or ``fake`` (tests
    and the labelled demo). Required in production."""

    stuck_after_seconds: float = Field(default=1800.0, gt=0)
    """An instance left in a transitional state this long is marked failed and announced."""

    workstation_gateway_url: str | None = None
    """The gateway as workstations reach it (its ``AGENT_PORT`` listener; Docker:
    ``http://host.docker.internal:PORT``, the host as containers see it), given to each agent as
    ``AGENT_GATEWAY_URL`` with its instance id: their git asks it for the owner's token. Not a
    secret; unset, workstations' git gets no credential from the platform. ``make run`` sets it."""

    fake_latency_seconds: float = Field(default=0.0, ge=0)
    fake_fail_operations: frozenset[str] = frozenset()
    """Operations of the fake provider that fail permanently (create, pause, wake, destroy)."""
    fake_transient_failures: int = Field(default=0, ge=0)
    """How many times each fake operation fails with a retryable error before it succeeds."""
    fake_host_memory_mb: tuple[int, int] | None = None
    """The fake host's (total, available) memory in MiB; unset: it cannot tell."""
    fake_agent_host: str | None = None
    """``host:port`` given as every fake machine's agent address (the capacity and connection
    benchmarks run one process there that answers as every agent); unset: an address per user
    that answers nothing."""

    docker_url: str | None = None
    """The Docker engine (``unix:///var/run/docker.sock``, ``tcp://...``); unset: ``DOCKER_HOST``
    or the local socket."""
    docker_image: str = "claudecloud/instance:latest"
    docker_network: str = "claude-net"
    """Bridge network for instances, created with inter-container traffic off when missing."""
    docker_deployment: str = "claudecloud"
    """Labels what this deployment made; reconciliation only ever touches its own containers."""
    docker_memory: str = "2g"
    docker_cpus: float = Field(default=1.0, gt=0)
    docker_pids: int = Field(default=512, ge=16)
    docker_cap_add: tuple[str, ...] = ()
    """Capabilities given back after dropping all (none needed: everything runs as the user)."""
    docker_user: str = "claude"
    docker_agent_port: int = 3001
    docker_publish_host: str = "127.0.0.1"
    """Publish each agent on this host address with a free port (``host`` = ``ADDR:PORT``);
    empty: publish nothing and use the container's address (``host`` = ``IP:3001``)."""
    docker_ready_timeout_seconds: float = Field(default=60.0, gt=0)
    """How long create and wake wait for the agent to answer before giving up."""
    docker_stop_timeout_seconds: int = Field(default=10, ge=0)
    docker_api_timeout_seconds: float = Field(default=60.0, gt=0)
    kubernetes_namespace: str = KUBERNETES_NAMESPACE
    """Every workstation's pod, volume claim and secret, and the NetworkPolicy, live here."""
    kubernetes_kubeconfig: Path | None = None
    """A kubeconfig file to reach the API server with; unset: in-cluster (the provisioner
    pod's service account)."""
    kubernetes_context: str | None = None
    """The kubeconfig's context to use; unset: its current context."""
    kubernetes_deployment: str = "claudecloud"
    """Labels what this deployment made; reconciliation only ever touches its own pods."""
    kubernetes_image: str = "claudecloud/instance:latest"
    kubernetes_image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    kubernetes_storage_class: str | None = None
    """Each user's volume claim asks this class; unset: the cluster's default class."""
    kubernetes_disk: str = "20Gi"
    """A volume claim's size when the plan gives none (billing off)."""
    kubernetes_memory: str = "2Gi"
    kubernetes_cpus: float = Field(default=1.0, gt=0)
    kubernetes_uid: int = Field(default=1000, gt=0)
    """The instance image's user (``claude``); pods run as it, never as root."""
    kubernetes_agent_port: int = 3001
    kubernetes_agent_clients: dict[str, str] = {"io.claudecloud.agent-client": "true"}
    """Labels of the pods the NetworkPolicy lets reach the agent port: the gateway's (the
    proxies), the activity service's (its polls) and the provisioner's (readiness)."""
    kubernetes_control_namespace: str = "claudecloud"
    """The namespace those pods run in (deploy/kubernetes)."""
    kubernetes_gateway_pods: dict[str, str] = {"app.kubernetes.io/name": "gateway"}
    """Labels of the gateway's pods in ``CONTROL_NAMESPACE``: workstations may reach them on
    ``WORKSTATION_GATEWAY_URL``'s port (git credentials), though private addresses are blocked."""
    kubernetes_blocked_cidrs: tuple[str, ...] = PRIVATE_CIDRS
    """Addresses workstations may not reach (the cluster's pods, services, nodes, cloud
    metadata); everything else on the internet they may."""
    kubernetes_node_selector: dict[str, str] = {}
    """Nodes workstations may run on: Kubernetes has no per-pod process limit, the kubelet's
    ``podPidsLimit`` is it, so select the nodes whose kubelet sets one (README)."""
    kubernetes_ready_timeout_seconds: float = Field(default=120.0, gt=0)
    """How long create and wake wait for the pod and then its agent to answer."""
    kubernetes_stop_timeout_seconds: int = Field(default=10, ge=0)
    """The pod's grace period: tmux and the agent get SIGTERM, then this long."""
    kubernetes_api_timeout_seconds: float = Field(default=30.0, gt=0)
    warm_pool_size: int = Field(default=0, ge=0, le=100)
    """Started machines kept ready for creates to claim (a create then runs in milliseconds);
    0: none. Only where the provider keeps a pool (docker). ``make run`` sets 2."""
    warm_pool_seconds: float = Field(default=10.0, gt=0)
    """How often the warm pool is checked and refilled (and at once after each claim)."""
    checkpoint_deadline_seconds: float = Field(default=5.0, gt=0, le=60)
    """How long the agent may take to checkpoint before a stop (dirty repositories, the panes,
    Claude's sessions); a checkpoint that fails or is late never holds the stop up."""
    billing_enabled: bool = False
    """``BILLING_ENABLED``: only users whose subscription billing calls entitled may create or
    wake an instance, and their plan sizes it; off, instances are free and sized by the settings."""
    hcloud_token: SecretStr | None = None
    """``HCLOUD_TOKEN``: the Hetzner Cloud API token (``PROVIDER=hetzner``)."""
    netbird_api_token: SecretStr | None = None
    """``NETBIRD_API_TOKEN``: read only to refuse ``PROVIDER=hetzner`` without the mesh (the
    netbird service uses it)."""
    terraform_binary: str = "terraform"
    terraform_dir: Path = Path("terraform")
    """Holds ``modules/user_instance``; the per-user workspaces go under ``workspaces/``."""
    terraform_workspaces: Path | None = None
    hetzner_server_type: str = "cx22"
    hetzner_location: str = "fsn1"
    hetzner_image: str = "ubuntu-24.04"
    instance_setup_script: Path = Path("docker/instance/setup.sh")
    """The instance's setup script; cloud-init runs the same one the image does."""
    reconcile_on_start: bool = True
    """At start-up, compare rows with the provider's machines and correct both (none is lost)."""
    check_interval_seconds: float = Field(default=600.0, ge=0)
    """Every this often, run the reconciliation check with its safe fixes and log what it
    found (the same check ``claude-cloud-admin check`` asks for); 0 turns the timer off."""

    @field_validator("provider", mode="before")
    @classmethod
    def _known_provider(cls, value: object) -> object:
        if value is None or value in {kind.value for kind in PROVIDERS}:
            return value
        names = ", ".join(kind.value for kind in PROVIDERS)
        raise ValueError(f"unknown PROVIDER {value!r}: choose one of {names}")

    @model_validator(mode="after")
    def _hetzner_needs_its_vendors(self) -> Self:
        if self.provider is ProviderKind.HETZNER:
            missing = hetzner_missing(self)
            if missing:
                raise ValueError(f"PROVIDER=hetzner needs {'; '.join(missing)}")
        return self

    @model_validator(mode="after")
    def _kubernetes_needs_a_cluster(self) -> Self:
        if self.provider is ProviderKind.KUBERNETES:
            config = self.kubernetes_kubeconfig
            if config is not None and not config.is_file():
                raise ValueError(f"PROVISIONER_KUBERNETES_KUBECONFIG={config} is not a file")
            if config is None and not IN_CLUSTER_TOKEN.is_file():
                raise ValueError(
                    "PROVIDER=kubernetes needs PROVISIONER_KUBERNETES_KUBECONFIG (a kubeconfig"
                    f" file) outside a cluster; inside one, a service account token at"
                    f" {IN_CLUSTER_TOKEN}"
                )
        return self

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.provider in (None, ProviderKind.FAKE):
            problems.append(
                "PROVIDER must be docker, kubernetes or hetzner in production (not the fake)"
            )
        return problems


def hetzner_missing(settings: ProvisionerSettings) -> list[str]:
    """What ``PROVIDER=hetzner`` lacks: the Hetzner token, the mesh, Terraform and its module."""
    missing = []
    if not settings.hcloud_token or not settings.hcloud_token.get_secret_value():
        missing.append("HCLOUD_TOKEN (a Hetzner Cloud API token)")
    if not settings.netbird_api_token or not settings.netbird_api_token.get_secret_value():
        missing.append("NETBIRD_API_TOKEN (the netbird service's Management API token)")
    if shutil.which(settings.terraform_binary) is None:
        missing.append(f"a terraform executable (TERRAFORM_BINARY={settings.terraform_binary})")
    if not (settings.terraform_dir / "modules" / "user_instance").is_dir():
        missing.append(f"the Terraform module (TERRAFORM_DIR={settings.terraform_dir})")
    return missing
