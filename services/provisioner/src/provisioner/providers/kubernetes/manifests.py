"""What the kubernetes provider makes, as objects of the Kubernetes API (lightkube's models): a
volume claim, a secret and a pod per user, one NetworkPolicy per namespace.

Pure functions of the options and the user's :class:`MachineRef`: the provider sends them, and
the suite validates every one of them offline against the Kubernetes schemas. Names and labels
are those of the docker provider (``claude-{user_id}``, ``claude-data-{user_id}``,
``io.claudecloud.*``), so an operator who knows one knows the other.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from uuid import UUID

from lightkube.models.core_v1 import (
    Capabilities,
    Container,
    ContainerPort,
    EnvVar,
    EnvVarSource,
    ExecAction,
    PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource,
    PodSecurityContext,
    PodSpec,
    Probe,
    ResourceRequirements,
    SeccompProfile,
    SecretKeySelector,
    SecurityContext,
    Volume,
    VolumeMount,
    VolumeResourceRequirements,
)
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.models.networking_v1 import (
    IPBlock,
    NetworkPolicyEgressRule,
    NetworkPolicyIngressRule,
    NetworkPolicyPeer,
    NetworkPolicyPort,
    NetworkPolicySpec,
)
from lightkube.resources.core_v1 import PersistentVolumeClaim, Pod, Secret
from lightkube.resources.networking_v1 import NetworkPolicy

from claudecloud_agentapi import AgentCredential

from ..base import MachineRef

LABEL_MANAGED = "io.claudecloud.managed"
LABEL_DEPLOYMENT = "io.claudecloud.deployment"
LABEL_INSTANCE = "io.claudecloud.instance-id"
LABEL_USER = "io.claudecloud.user-id"
SIZE_ANNOTATION = "io.claudecloud.size"  # "cpus=1.0,memory_mb=2048" is no valid label value
CONTAINER = "workstation"
SECRET_KEY = "agent-secret"  # noqa: S105 (the key the secret is under, not one)
CREDENTIAL_KEY = "agent-credential"
"""What the pod's environment gets of the secret (``AgentCredential``: a verifier and the token
the agent names itself with), never the secret: the user's processes can read PID 1's."""
DATA_PATH = "/claude-data"
HEALTHCHECK = "/opt/claudecloud/bin/healthcheck.sh"  # the image's: the agent is up
DNS_PORT = 53


@dataclass(frozen=True)
class KubernetesOptions:
    """What the provider makes and where (from ``PROVISIONER_KUBERNETES_*``)."""

    namespace: str
    kubeconfig: str | None
    context: str | None
    deployment: str
    image: str
    image_pull_policy: str
    storage_class: str | None
    disk: str
    memory: str
    cpus: float
    uid: int
    agent_port: int
    agent_clients: dict[str, str]
    control_namespace: str
    blocked_cidrs: tuple[str, ...]
    node_selector: dict[str, str]
    ready_timeout: float
    stop_timeout: int
    api_timeout: float
    gateway_url: str | None = None
    """The gateway's workstation listener as pods reach it (``AGENT_GATEWAY_URL``: git
    credentials); None: workstations get no credential from the platform."""
    gateway_pods: dict[str, str] = field(default_factory=dict)
    """Labels of the gateway's pods in ``control_namespace``, which the policy lets workstations
    reach on the listener's port."""


def pod_name(user_id: UUID) -> str:
    return f"claude-{user_id}"


def claim_name(user_id: UUID) -> str:
    return f"claude-data-{user_id}"


def secret_name(user_id: UUID) -> str:
    return f"claude-agent-{user_id}"


POLICY_NAME = "claude-workstations"


def size(ref: MachineRef) -> str:
    return f"cpus={ref.cpus},memory_mb={ref.memory_mb}"


def ours(o: KubernetesOptions) -> dict[str, str]:
    """The labels of everything this deployment makes (what its selectors match)."""
    return {LABEL_MANAGED: "true", LABEL_DEPLOYMENT: o.deployment}


def labels(o: KubernetesOptions, ref: MachineRef) -> dict[str, str]:
    return {**ours(o), LABEL_INSTANCE: str(ref.instance_id), LABEL_USER: str(ref.user_id)}


def claim(o: KubernetesOptions, ref: MachineRef) -> PersistentVolumeClaim:
    """The user's data volume: the plan's disk (or the setting), one node at a time. It carries
    the user, not the instance: it outlives instances until a purge."""
    disk = f"{ref.disk_gb}Gi" if ref.disk_gb else o.disk
    return PersistentVolumeClaim(
        metadata=ObjectMeta(
            name=claim_name(ref.user_id),
            namespace=o.namespace,
            labels={**ours(o), LABEL_USER: str(ref.user_id)},
        ),
        spec=PersistentVolumeClaimSpec(
            accessModes=["ReadWriteOnce"],
            storageClassName=o.storage_class,
            resources=VolumeResourceRequirements(requests={"storage": disk}),
        ),
    )


def secret(o: KubernetesOptions, ref: MachineRef, token: str) -> Secret:
    """The agent's secret, for the provider, and what the machine keeps of it, which the pod's
    environment references (never a literal in the pod spec, so reading pods does not reveal
    it; and only the credential, so the pod's own processes cannot learn the secret)."""
    return Secret(
        metadata=ObjectMeta(
            name=secret_name(ref.user_id), namespace=o.namespace, labels=labels(o, ref)
        ),
        type="Opaque",
        data={
            SECRET_KEY: base64.b64encode(token.encode()).decode(),
            CREDENTIAL_KEY: base64.b64encode(AgentCredential.of(token).dump().encode()).decode(),
        },
    )


def pod(o: KubernetesOptions, ref: MachineRef) -> Pod:
    """The running workstation: the image, hardened as the docker provider's containers are,
    sized by the plan (requests = limits), the user's volume as its home."""
    annotations = {SIZE_ANNOTATION: size(ref)} if ref.cpus or ref.memory_mb else None
    return Pod(
        metadata=ObjectMeta(
            name=pod_name(ref.user_id),
            namespace=o.namespace,
            labels=labels(o, ref),
            annotations=annotations,
        ),
        spec=PodSpec(
            hostname="claude",
            containers=[_container(o, ref)],
            volumes=[
                Volume(
                    name="data",
                    persistentVolumeClaim=PersistentVolumeClaimVolumeSource(
                        claimName=claim_name(ref.user_id)
                    ),
                )
            ],
            securityContext=PodSecurityContext(
                runAsNonRoot=True,
                runAsUser=o.uid,
                runAsGroup=o.uid,
                fsGroup=o.uid,  # the volume is the user's to write
                fsGroupChangePolicy="OnRootMismatch",
                seccompProfile=SeccompProfile(type="RuntimeDefault"),
            ),
            automountServiceAccountToken=False,  # a workstation has no business with the API
            enableServiceLinks=False,  # nor with the namespace's service addresses
            restartPolicy="Always",
            terminationGracePeriodSeconds=o.stop_timeout,
            nodeSelector=o.node_selector or None,
        ),
    )


def _container(o: KubernetesOptions, ref: MachineRef) -> Container:
    cpu = f"{round((ref.cpus or o.cpus) * 1000)}m"
    memory = f"{ref.memory_mb}Mi" if ref.memory_mb else o.memory
    bounds = {"cpu": cpu, "memory": memory}
    return Container(
        name=CONTAINER,
        image=o.image,
        imagePullPolicy=o.image_pull_policy,
        env=[
            EnvVar(
                name="AGENT_SECRET",
                valueFrom=EnvVarSource(
                    secretKeyRef=SecretKeySelector(
                        name=secret_name(ref.user_id), key=CREDENTIAL_KEY
                    )
                ),
            ),
            EnvVar(name="AGENT_PORT", value=str(o.agent_port)),
            EnvVar(name="AGENT_INSTANCE_ID", value=str(ref.instance_id)),
            *([EnvVar(name="AGENT_GATEWAY_URL", value=o.gateway_url)] if o.gateway_url else []),
        ],
        ports=[ContainerPort(name="agent", containerPort=o.agent_port, protocol="TCP")],
        resources=ResourceRequirements(requests=bounds, limits=bounds),
        volumeMounts=[VolumeMount(name="data", mountPath=DATA_PATH)],
        securityContext=SecurityContext(
            runAsNonRoot=True,
            runAsUser=o.uid,
            allowPrivilegeEscalation=False,
            capabilities=Capabilities(drop=["ALL"]),
            seccompProfile=SeccompProfile(type="RuntimeDefault"),
        ),
        # The image's HEALTHCHECK as readiness: `kubectl get pods` shows what docker ps does.
        readinessProbe=Probe(
            exec=ExecAction(command=[HEALTHCHECK]),
            periodSeconds=5,
            timeoutSeconds=4,
            failureThreshold=3,
        ),
    )


def network_policy(o: KubernetesOptions) -> NetworkPolicy:
    """Workstations take connections only from the platform's own pods, on the agent port, and
    reach DNS and the internet but no private address: not each other, not the cluster."""
    return NetworkPolicy(
        metadata=ObjectMeta(name=POLICY_NAME, namespace=o.namespace, labels=ours(o)),
        spec=NetworkPolicySpec(
            podSelector=LabelSelector(matchLabels=ours(o)),
            policyTypes=["Ingress", "Egress"],
            ingress=[
                NetworkPolicyIngressRule(
                    # One peer with both selectors: pods with these labels in that namespace.
                    from_=[
                        NetworkPolicyPeer(
                            namespaceSelector=_namespace(o.control_namespace),
                            podSelector=LabelSelector(matchLabels=o.agent_clients),
                        )
                    ],
                    ports=[NetworkPolicyPort(protocol="TCP", port=o.agent_port)],
                )
            ],
            egress=[
                NetworkPolicyEgressRule(
                    to=[
                        NetworkPolicyPeer(
                            namespaceSelector=_namespace("kube-system"),
                            podSelector=LabelSelector(matchLabels={"k8s-app": "kube-dns"}),
                        )
                    ],
                    ports=[
                        NetworkPolicyPort(protocol="UDP", port=DNS_PORT),
                        NetworkPolicyPort(protocol="TCP", port=DNS_PORT),
                    ],
                ),
                NetworkPolicyEgressRule(
                    to=[
                        NetworkPolicyPeer(
                            ipBlock=IPBlock(cidr="0.0.0.0/0", except_=list(o.blocked_cidrs))
                        )
                    ]
                ),
                *_to_gateway(o),
            ],
        ),
    )


def _to_gateway(o: KubernetesOptions) -> list[NetworkPolicyEgressRule]:
    """The gateway's workstation listener (a private address the rule above blocks): its pods,
    on the listener's port, which must be the pods' own (a Service mapping the same port)."""
    if not o.gateway_url or not o.gateway_pods:
        return []
    url = urlsplit(o.gateway_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    return [
        NetworkPolicyEgressRule(
            to=[
                NetworkPolicyPeer(
                    namespaceSelector=_namespace(o.control_namespace),
                    podSelector=LabelSelector(matchLabels=o.gateway_pods),
                )
            ],
            ports=[NetworkPolicyPort(protocol="TCP", port=port)],
        )
    ]


def _namespace(name: str) -> LabelSelector:
    return LabelSelector(matchLabels={"kubernetes.io/metadata.name": name})
