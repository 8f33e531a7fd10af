"""Throwaway platforms for tests and benchmarks: free ports, a folder of their own, and (for the
docker provider) a deployment label and network that nothing else shares, removed afterwards."""

from __future__ import annotations

import secrets
import socket
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .stack import ServiceSpec, StackConfig

DEPLOYMENT_LABEL = "io.claudecloud.deployment"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def local_config(
    folder: Path,
    *,
    provider: str,
    database_url: str | None = None,
    env: Mapping[str, str] | None = None,
    provisioners: int = 1,
    port: int | None = None,
) -> StackConfig:
    """A platform whose data and logs live under ``folder``, every process on a free port."""
    return StackConfig(
        data_dir=folder / "data",
        port=port or free_port(),
        nats_port=free_port(),
        database_url=database_url,
        admin_api_key=secrets.token_urlsafe(32),
        provider=provider,
        extra_env=dict(env or {}),
        log_dir=folder / "logs",
        services=(
            *(
                ServiceSpec(f"provisioner-{i}" if i else "provisioner", "provisioner", free_port())
                for i in range(provisioners)
            ),
            ServiceSpec("gateway", "gateway", 0),
        ),
    )


def docker_isolation(prefix: str, image: str) -> tuple[str, str, dict[str, str]]:
    """A deployment label and network of their own: (deployment, network, provisioner env)."""
    tag = uuid.uuid4().hex[:8]
    deployment, network = f"{prefix}-{tag}", f"claude-net-{prefix}-{tag}"
    env = {
        "PROVISIONER_DOCKER_IMAGE": image,
        "PROVISIONER_DOCKER_NETWORK": network,
        "PROVISIONER_DOCKER_DEPLOYMENT": deployment,
    }
    return deployment, network, env


def remove_deployment(engine: Any, deployment: str, network: str) -> None:
    """Remove every container and volume labelled with ``deployment``, and ``network``."""
    selector = {"label": [f"{DEPLOYMENT_LABEL}={deployment}"]}
    for container in engine.containers.list(all=True, ignore_removed=True, filters=selector):
        container.remove(force=True, v=True)
    for volume in engine.volumes.list(filters=selector):
        volume.remove(force=True)
    for found in engine.networks.list(names=[network]):
        found.remove()
