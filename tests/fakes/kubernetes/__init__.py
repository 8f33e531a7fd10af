"""A stand-in Kubernetes API server (``api``) checked against the Kubernetes OpenAPI document
(``document``), with a kubelet (``kubelet``) that runs its pods; :func:`serve_kubernetes` serves
one on a free port with a kubeconfig file that points at it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from tests.support import eventually, free_port

from .api import TOKEN, FakeKubernetes
from .kubelet import AgentProcesses, Kubelet, Runtime, StubAgents

__all__ = [
    "AgentProcesses",
    "FakeKubernetes",
    "StandIn",
    "StubAgents",
    "free_agent_port",
    "serve_kubernetes",
]


def free_agent_port() -> int:
    """A port free on every address (each pod's agent listens on its own 127.0.0.N)."""
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))  # noqa: S104 (bound only to learn a port free everywhere)
        port: int = s.getsockname()[1]
        return port


@dataclass
class StandIn:
    api: FakeKubernetes
    kubelet: Kubelet
    url: str
    kubeconfig: Path
    namespace: str

    def problems(self) -> list[str]:
        """Requests it refused and answers of its own that broke the document: both empty in
        a test that passes."""
        return [*self.api.refused, *self.api.violations]


@contextlib.asynccontextmanager
async def serve_kubernetes(
    folder: Path, runtime: Runtime, *, agent_port: int, namespace: str = "workstations"
) -> AsyncIterator[StandIn]:
    """Serve a stand-in API server and its kubelet on this event loop until the block ends."""
    api = FakeKubernetes()
    kubelet = Kubelet(api, runtime, folder / "volumes", agent_port)
    port = free_port()
    config = uvicorn.Config(
        api.app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    def listening() -> bool:
        if task.done():
            task.result()  # it stopped before listening: say why
        return server.started

    await eventually(listening, timeout=30, what="the stand-in API server listening")
    url = f"http://127.0.0.1:{port}"
    kubeconfig = folder / "kubeconfig"
    kubeconfig.write_text(json.dumps(_kubeconfig(url, namespace)))  # JSON is YAML
    try:
        yield StandIn(api, kubelet, url, kubeconfig, namespace)
    finally:
        await kubelet.close()
        server.should_exit = True
        await task


def _kubeconfig(url: str, namespace: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "stand-in", "cluster": {"server": url}}],
        "users": [{"name": "provisioner", "user": {"token": TOKEN}}],
        "contexts": [
            {
                "name": "stand-in",
                "context": {"cluster": "stand-in", "user": "provisioner", "namespace": namespace},
            }
        ],
        "current-context": "stand-in",
    }
