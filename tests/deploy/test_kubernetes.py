"""deploy/kubernetes/ (kustomize): every manifest is a valid object of the Kubernetes versions
we support (checked offline, strictly: no cluster is reachable here), the kustomization names
every one of them, every secret a service reads is in secrets.example.env, every service has
probes on /healthz, and the provisioner may act only in the workstations' namespace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from .kubernetes_manifests import FOLDER, VERSIONS, documents, manifests, problems

pytestmark = pytest.mark.unit

SERVICES = ("gateway", "provisioner", "billing", "activity", "netbird", "audit", "webhooks")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", manifests(), ids=lambda p: p.name)
def test_every_manifest_is_valid(path: Path, version: str) -> None:
    found = [problems(doc, version) for doc in documents(path)]
    assert [p for p in found if p] == []


def kustomization() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((FOLDER / "kustomization.yaml").read_text())
    return loaded


def test_the_kustomization_names_every_manifest_and_makes_the_secret() -> None:
    assert sorted(kustomization()["resources"]) == sorted(p.name for p in manifests())
    [generated] = kustomization()["secretGenerator"]
    assert generated["name"] == "claudecloud-secrets"
    assert generated["envs"] == ["secrets.env"]
    assert (FOLDER / ".gitignore").read_text().split() == ["secrets.env"]  # never committed


def containers() -> dict[str, dict[str, Any]]:
    found = {}
    for path in manifests():
        for doc in documents(path):
            if doc["kind"] in ("Deployment", "StatefulSet"):
                [box] = doc["spec"]["template"]["spec"]["containers"]
                found[doc["metadata"]["name"]] = box
    return found


def test_the_services_and_nats_run_with_probes_on_healthz() -> None:
    boxes = containers()
    assert set(boxes) == {*SERVICES, "nats"}
    for name, box in boxes.items():
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert box[probe]["httpGet"]["path"].startswith("/healthz"), (name, probe)
        assert box["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_every_secret_a_service_reads_is_in_the_example() -> None:
    example = (FOLDER / "secrets.example.env").read_text().splitlines()
    keys = {line.split("=", 1)[0] for line in example if line and not line.startswith("#")}
    for name, box in containers().items():
        for item in box.get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref is not None:
                assert ref["name"] == "claudecloud-secrets", name
                assert ref["key"] in keys, f"{name} reads {ref['key']}, not in the example"


def test_nats_is_three_jetstream_nodes() -> None:
    [nats] = [d for d in documents(FOLDER / "nats.yaml") if d["kind"] == "StatefulSet"]
    [config] = [d for d in documents(FOLDER / "nats.yaml") if d["kind"] == "ConfigMap"]
    assert nats["spec"]["replicas"] == 3
    assert "sync_interval: always" in config["data"]["nats.conf"]
    for node in range(3):
        assert f"nats-route://nats-{node}.nats:6222" in config["data"]["nats.conf"]


def test_the_provisioner_may_act_only_in_the_workstations_namespace() -> None:
    docs = documents(FOLDER / "provisioner.yaml")
    kinds = {d["kind"]: d for d in docs}
    assert "ClusterRole" not in kinds
    assert "ClusterRoleBinding" not in kinds
    assert kinds["Role"]["metadata"]["namespace"] == "claudecloud-workstations"
    binding = kinds["RoleBinding"]
    assert binding["metadata"]["namespace"] == "claudecloud-workstations"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "provisioner", "namespace": "claudecloud"}
    ]
    [config] = documents(FOLDER / "config.yaml")
    assert config["data"]["PROVISIONER_KUBERNETES_NAMESPACE"] == "claudecloud-workstations"
    assert config["data"]["PROVIDER"] == "kubernetes"


def test_the_pods_that_reach_agents_carry_the_label_the_policy_admits() -> None:
    [config] = documents(FOLDER / "config.yaml")
    clients = yaml.safe_load(config["data"]["PROVISIONER_KUBERNETES_AGENT_CLIENTS"])
    for path in manifests():
        for doc in documents(path):
            if doc["kind"] != "Deployment":
                continue
            labels = doc["spec"]["template"]["metadata"]["labels"]
            reaches = all(labels.get(k) == v for k, v in clients.items())
            name = doc["metadata"]["name"]
            assert reaches == (name in ("gateway", "activity", "provisioner")), name
