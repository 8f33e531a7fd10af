"""One lifecycle suite, every provider that makes real machines: the platform's processes (as
``make run`` starts them) driven through the gateway, on Docker (a real engine: the docker tier)
and on Kubernetes (the stand-in API server, whose kubelet runs each pod's agent as a process at
an address of its own: the e2e tier). Each provider says, in :class:`Workstations`, how a test
looks at its machines; the tests themselves are the same."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack import Stack, local_config
from tests.fakes.kubernetes import AgentProcesses, StandIn, free_agent_port, serve_kubernetes
from tests.provisioner.docker.conftest import (  # noqa: F401 (engine: a fixture)
    IMAGE,
    DockerPlatform,
    agent_secret,
    docker_platform,
    engine,
    exec_in,
)
from tests.provisioner.platform import Platform

pytestmark = pytest.mark.timeout(600)


class Workstations:
    """How a test looks at one provider's machines, beside the gateway's view."""

    platform: Platform

    def running(self, user: uuid.UUID) -> bool:
        """The user's machine is up (a container running, a pod running)."""
        raise NotImplementedError

    def exists(self, user: uuid.UUID) -> bool:
        """The user's machine exists at all (stopped or not)."""
        raise NotImplementedError

    def healthy(self, user: uuid.UUID) -> bool:
        """The machine's own health check passes (Docker's HEALTHCHECK, the pod's readiness)."""
        raise NotImplementedError

    def volume_exists(self, user: uuid.UUID) -> bool:
        raise NotImplementedError

    def agent_secret(self, user: uuid.UUID) -> str:
        raise NotImplementedError

    async def write(self, user: uuid.UUID, path: str, text: str) -> None:
        """Write a file into the machine's data volume, as the user would from a terminal."""
        raise NotImplementedError

    # Behind the platform's back, as an operator with the backend's own tools would

    def stop_behind_back(self, user: uuid.UUID) -> None:
        """Stop the machine, keeping its data (``docker stop``, ``kubectl delete pod``)."""
        raise NotImplementedError

    def remove_behind_back(self, user: uuid.UUID) -> None:
        """Remove the machine and anything a wake could start it from again."""
        raise NotImplementedError

    def start_orphan(self, user: uuid.UUID) -> None:
        """Start a machine with our labels that no instance owns."""
        raise NotImplementedError


class OnDocker(Workstations):
    def __init__(self, platform: DockerPlatform) -> None:
        self.platform = self.docker = platform

    def running(self, user: uuid.UUID) -> bool:
        box = self.docker.container(user)
        return box is not None and box.status == "running"

    def exists(self, user: uuid.UUID) -> bool:
        return self.docker.container(user) is not None

    def healthy(self, user: uuid.UUID) -> bool:
        box = self.docker.container(user)
        return box is not None and box.attrs["State"].get("Health", {}).get("Status") == "healthy"

    def volume_exists(self, user: uuid.UUID) -> bool:
        return self.docker.volume_exists(user)

    def agent_secret(self, user: uuid.UUID) -> str:
        box = self.docker.container(user)
        assert box is not None
        return agent_secret(self.docker, box.labels["io.claudecloud.instance-id"])

    async def write(self, user: uuid.UUID, path: str, text: str) -> None:
        box = self.docker.container(user)
        assert box is not None
        code, _ = exec_in(box, f"printf %s '{text}' > /claude-data/{path}")
        assert code == 0

    def stop_behind_back(self, user: uuid.UUID) -> None:
        box = self.docker.container(user)
        assert box is not None
        box.stop(timeout=2)

    def remove_behind_back(self, user: uuid.UUID) -> None:
        box = self.docker.container(user)
        assert box is not None
        box.remove(force=True)

    def start_orphan(self, user: uuid.UUID) -> None:
        labels = {**ours(self.docker.deployment), "io.claudecloud.user-id": str(user)}
        self.docker.engine.containers.run(
            IMAGE, ["sleep", "600"], name=f"claude-{user}", labels=labels, detach=True
        )


def ours(deployment: str) -> dict[str, str]:
    """Labels of a machine of ``deployment`` whose instance nobody knows."""
    return {
        "io.claudecloud.managed": "true",
        "io.claudecloud.deployment": deployment,
        "io.claudecloud.instance-id": str(uuid.uuid4()),
    }


class OnKubernetes(Workstations):
    def __init__(self, platform: Platform, stand_in: StandIn) -> None:
        self.platform, self.stand_in = platform, stand_in

    def _get(self, plural: str, name: str) -> dict[str, Any] | None:
        return self.stand_in.api.get(plural, self.stand_in.namespace, name)

    def running(self, user: uuid.UUID) -> bool:
        pod = self._get("pods", f"claude-{user}")
        return pod is not None and pod.get("status", {}).get("phase") == "Running"

    def exists(self, user: uuid.UUID) -> bool:
        return self._get("pods", f"claude-{user}") is not None  # paused: no pod at all

    def healthy(self, user: uuid.UUID) -> bool:
        pod = self._get("pods", f"claude-{user}")
        conditions = (pod or {}).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def volume_exists(self, user: uuid.UUID) -> bool:
        return self._get("persistentvolumeclaims", f"claude-data-{user}") is not None

    def agent_secret(self, user: uuid.UUID) -> str:
        found = self._get("secrets", f"claude-agent-{user}")
        assert found is not None
        return base64.b64decode(found["data"]["agent-secret"]).decode()

    async def write(self, user: uuid.UUID, path: str, text: str) -> None:
        volume = self.stand_in.kubelet.volume(self.stand_in.namespace, f"claude-data-{user}")
        assert volume is not None
        (volume / path).write_text(text)

    def stop_behind_back(self, user: uuid.UUID) -> None:
        self.stand_in.api.delete("pods", self.stand_in.namespace, f"claude-{user}")

    def remove_behind_back(self, user: uuid.UUID) -> None:
        api, namespace = self.stand_in.api, self.stand_in.namespace
        api.delete("pods", namespace, f"claude-{user}")
        api.delete("persistentvolumeclaims", namespace, f"claude-data-{user}")

    def start_orphan(self, user: uuid.UUID) -> None:
        labels = {**ours("claudecloud"), "io.claudecloud.user-id": str(user)}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"claude-{user}", "namespace": self.stand_in.namespace},
            "spec": {"containers": [{"name": "workstation", "image": "claudecloud/instance"}]},
        }
        pod["metadata"]["labels"] = labels  # type: ignore[index]
        self.stand_in.api.put("pods", pod, "ADDED")


@pytest.fixture(
    scope="session",
    params=[
        pytest.param("docker", marks=pytest.mark.docker),
        pytest.param("kubernetes", marks=pytest.mark.e2e),
    ],
)
async def workstations(
    request: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Workstations]:
    tmp = tmp_path_factory.mktemp(f"lifecycle-{request.param}")
    if request.param == "docker":
        async with docker_platform(request.getfixturevalue("engine"), tmp, request) as docker:
            yield OnDocker(docker)
    else:
        async with kubernetes_platform(tmp, request) as found:
            yield found


@contextlib.asynccontextmanager
async def kubernetes_platform(tmp: Path, request: Any) -> AsyncIterator[OnKubernetes]:
    """The platform's processes on the kubernetes provider, aimed at a stand-in API server in
    this process; the stand-in refused nothing and broke the document nowhere at the end."""
    runtime = AgentProcesses(tmp / "pods")
    async with serve_kubernetes(tmp, runtime, agent_port=free_agent_port()) as stand_in:
        env = {
            "PROVISIONER_KUBERNETES_KUBECONFIG": str(stand_in.kubeconfig),
            "PROVISIONER_KUBERNETES_NAMESPACE": stand_in.namespace,
            "PROVISIONER_KUBERNETES_AGENT_PORT": str(stand_in.kubelet.agent_port),
            "PROVISIONER_KUBERNETES_STOP_TIMEOUT_SECONDS": "2",
            "PROVISIONER_BUS_ACK_WAIT_SECONDS": "90",
            "OUTBOX_POLL_SECONDS": "0.5",
            "GATEWAY_ADMISSION_TIMEOUT_SECONDS": "2",
        }
        config = local_config(tmp, provider="kubernetes", env=env)
        stack = Stack(config)
        await asyncio.to_thread(stack.start)
        api = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{config.port}",
            headers={"X-API-Key": config.admin_api_key},
            timeout=30,
        )
        try:
            yield OnKubernetes(Platform(stack, api, env), stand_in)
        finally:
            await api.aclose()
            await asyncio.to_thread(stack.stop_all)
            if request.session.testsfailed:
                print_logs(tmp)  # the services' and each pod's agent's
        assert stand_in.problems() == []


def print_logs(folder: Path) -> None:
    for log in sorted(folder.glob("**/*.log")):
        print(f"----- {log} -----\n{log.read_text()[-8000:]}")
