"""The connect script of a Kubernetes instance, run by bash with a stand-in ``kubectl``: it
attaches to the tmux session in the user's pod (the provider's name for it, in the workstations'
namespace unless ``CLAUDECLOUD_NAMESPACE`` names another); every failure says why and exits 1.
It passes shellcheck."""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

from claudecloud_common.contracts.instances import InstanceStatus, InstanceView
from claudecloud_common.contracts.providers import KUBERNETES_NAMESPACE
from gateway.connect.service import for_instance

USER = uuid.UUID("6f1c1d4e-2b7a-4f0e-9a51-0c2d7e3b8a90")


def script() -> str:
    now = datetime.now(UTC)
    view = InstanceView(
        id=uuid.uuid4(),
        user_id=USER,
        status=InstanceStatus.RUNNING,
        provider="kubernetes",
        host="10.42.0.17:3001",
        created_at=now,
        updated_at=now,
    )
    return for_instance(view, "http://cloud.test")


def kubectl(folder: Path, body: str) -> None:
    """A stand-in ``kubectl`` that records its arguments, then runs ``body``."""
    path = folder / "kubectl"
    path.write_text(f'#!/bin/bash\necho "kubectl $*" >> "{folder}/calls"\n{body}\n')
    path.chmod(0o755)


def run(folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # Only the stand-in and what bash needs: never a real kubectl.
    basics = folder / "basics"
    basics.mkdir(exist_ok=True)
    target = basics / "printf"
    if not target.exists():
        target.symlink_to(subprocess.check_output(["which", "printf"], text=True).strip())
    return subprocess.run(
        ["/bin/bash"],
        input=script(),
        capture_output=True,
        text=True,
        env={"PATH": f"{folder}:{basics}", **env},
        timeout=30,
        check=False,
    )


def calls(folder: Path) -> list[str]:
    path = folder / "calls"
    return path.read_text().splitlines() if path.exists() else []


def test_it_passes_shellcheck(tmp_path: Path) -> None:
    path = tmp_path / "connect.sh"
    path.write_text(script())
    checked = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout


def test_it_attaches_to_tmux_in_the_users_pod(tmp_path: Path) -> None:
    kubectl(tmp_path, "exit 0")
    ran = run(tmp_path)
    assert ran.returncode == 0, ran.stderr
    pod = f"claude-{USER}"
    assert calls(tmp_path) == [
        f"kubectl get pod {pod} --namespace {KUBERNETES_NAMESPACE}",
        f"kubectl exec -it {pod} --namespace {KUBERNETES_NAMESPACE} -c workstation"
        " -- tmux attach -t claude",
    ]


def test_the_operator_names_another_namespace(tmp_path: Path) -> None:
    kubectl(tmp_path, "exit 0")
    ran = run(tmp_path, CLAUDECLOUD_NAMESPACE="team-workstations")
    assert ran.returncode == 0, ran.stderr
    assert all("--namespace team-workstations" in call for call in calls(tmp_path))


def test_no_pod_there_says_which_namespace_was_asked(tmp_path: Path) -> None:
    kubectl(tmp_path, 'echo "Error from server (NotFound)" >&2; exit 1')
    ran = run(tmp_path)
    assert ran.returncode == 1
    assert f"no workstation pod claude-{USER} in namespace {KUBERNETES_NAMESPACE}" in ran.stderr
    assert "CLAUDECLOUD_NAMESPACE" in ran.stderr
    assert len(calls(tmp_path)) == 1  # it did not try to exec


def test_without_kubectl_it_explains_and_exits_1(tmp_path: Path) -> None:
    ran = run(tmp_path)
    assert ran.returncode == 1
    assert "kubectl is not installed on this machine" in ran.stderr
    assert "  -> " in ran.stderr
