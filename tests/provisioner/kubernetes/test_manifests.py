"""What the kubernetes provider makes, for every shape of its settings and of a plan: valid
objects of the Kubernetes versions we support (strict, offline), hardened as the docker
provider's containers are, with the agent's secret referenced and never written in the pod."""

from __future__ import annotations

import base64
import uuid
from dataclasses import replace
from typing import Any

import pytest

from claudecloud_agentapi import AgentCredential
from provisioner.providers.base import MachineRef
from provisioner.providers.factory import kubernetes_options
from provisioner.providers.kubernetes import KubernetesOptions
from provisioner.providers.kubernetes import manifests as m
from provisioner.settings import ProvisionerSettings
from tests.deploy.kubernetes_manifests import VERSIONS, problems

pytestmark = pytest.mark.unit


def options(**changes: Any) -> KubernetesOptions:
    defaults = kubernetes_options(ProvisionerSettings(provider="fake"))
    return replace(defaults, **changes)


SHAPES = {
    "defaults": (options(), MachineRef(uuid.uuid4(), uuid.uuid4())),
    "plan-sized": (
        options(
            storage_class="fast-ssd",
            node_selector={"claudecloud.io/workstations": "true"},
            gateway_url="http://gateway-workstations.claudecloud.svc:8001",
        ),
        MachineRef(uuid.uuid4(), uuid.uuid4(), cpus=1.5, memory_mb=3072, disk_gb=50),
    ),
}


def made(o: KubernetesOptions, ref: MachineRef) -> list[dict[str, Any]]:
    objects = (m.claim(o, ref), m.secret(o, ref, "s3cret-value"), m.pod(o, ref))
    return [obj.to_dict() for obj in (*objects, m.network_policy(o))]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_every_object_is_valid(shape: str, version: str) -> None:
    found = [problems(obj, version) for obj in made(*SHAPES[shape])]
    assert [p for p in found if p] == []


def test_the_pod_is_hardened_as_docker_containers_are() -> None:
    o, ref = SHAPES["plan-sized"]
    pod = m.pod(o, ref).to_dict()
    spec = pod["spec"]
    [box] = spec["containers"]
    assert spec["securityContext"] | box["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "fsGroup": 1000,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert spec["automountServiceAccountToken"] is False
    assert box["resources"] == {
        "requests": {"cpu": "1500m", "memory": "3072Mi"},
        "limits": {"cpu": "1500m", "memory": "3072Mi"},
    }
    assert spec["nodeSelector"] == {"claudecloud.io/workstations": "true"}
    assert "s3cret-value" not in str(pod)
    [secret_env] = [e for e in box["env"] if e["name"] == "AGENT_SECRET"]
    assert secret_env["valueFrom"]["secretKeyRef"]["name"] == f"claude-agent-{ref.user_id}"
    # The pod's environment (readable by its own processes) gets what the machine keeps of the
    # secret, never the secret, which stays in the Secret for the provider alone
    assert secret_env["valueFrom"]["secretKeyRef"]["key"] == "agent-credential"
    data = m.secret(o, ref, "s3cret-value-of-32-characters-long").to_dict()["data"]
    kept = base64.b64decode(data["agent-credential"]).decode()
    assert "s3cret-value" not in kept
    assert AgentCredential.parse(kept).accepts("s3cret-value-of-32-characters-long")
    assert base64.b64decode(data["agent-secret"]).decode() == "s3cret-value-of-32-characters-long"


def test_names_and_labels_are_dockers() -> None:
    o, ref = SHAPES["defaults"]
    pod, claim = m.pod(o, ref).to_dict(), m.claim(o, ref).to_dict()
    assert pod["metadata"]["name"] == f"claude-{ref.user_id}"
    assert claim["metadata"]["name"] == f"claude-data-{ref.user_id}"
    assert pod["metadata"]["labels"] == {
        "io.claudecloud.managed": "true",
        "io.claudecloud.deployment": "claudecloud",
        "io.claudecloud.instance-id": str(ref.instance_id),
        "io.claudecloud.user-id": str(ref.user_id),
    }
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert "storageClassName" not in claim["spec"]  # the cluster's default class


def test_the_policy_admits_only_the_platforms_pods_on_the_agent_port() -> None:
    spec = m.network_policy(options()).to_dict()["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    [ingress] = spec["ingress"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": 3001}]
    assert ingress["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "claudecloud"}},
            "podSelector": {"matchLabels": {"io.claudecloud.agent-client": "true"}},
        }
    ]
    dns, internet = spec["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    [block] = internet["to"]
    assert block["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= set(
        block["ipBlock"]["except"]
    )


def test_workstations_are_told_where_the_gateway_is_and_may_reach_it() -> None:
    o, ref = SHAPES["plan-sized"]
    [box] = m.pod(o, ref).to_dict()["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in box["env"]}
    assert env["AGENT_GATEWAY_URL"] == "http://gateway-workstations.claudecloud.svc:8001"
    assert env["AGENT_INSTANCE_ID"] == str(ref.instance_id)
    *_, gateway = m.network_policy(o).to_dict()["spec"]["egress"]
    assert gateway == {
        "to": [
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": "claudecloud"}
                },
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}},
            }
        ],
        "ports": [{"protocol": "TCP", "port": 8001}],
    }
    # Without an address, no rule: the private ranges stay closed.
    assert len(m.network_policy(options()).to_dict()["spec"]["egress"]) == 2
