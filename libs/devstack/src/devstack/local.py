"""Throwaway platforms for tests and benchmarks: free ports, a folder of their own, and (for the
docker provider) a deployment label and network that nothing else shares, removed afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .services import SERVICES
from .stack import StackConfig, free_port, plan_services

DEPLOYMENT_LABEL = "io.claudecloud.deployment"
OUTSIDE_SERVERS = ("DATABASE_URL", "NATS_URL", "REDIS_URL", "SMTP_HOST")
"""Plain settings that would point a throwaway platform at servers it did not start."""


def hermetic_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) without any service's own settings and without the
    plain ones that name outside servers: what a throwaway platform's services inherit."""
    return {
        k: v
        for k, v in (os.environ if environ is None else environ).items()
        if k not in OUTSIDE_SERVERS and not any(service.owns(k) for service in SERVICES)
    }


def local_config(
    folder: Path,
    *,
    provider: str,
    database_url: str | None = None,
    env: Mapping[str, str] | None = None,
    replicas: Mapping[str, int] | None = None,
    port: int | None = None,
) -> StackConfig:
    """A platform whose data and logs live under ``folder``, every process on a free port, each
    registered service once (or ``replicas[name]`` times). Its services see only ``env`` and
    what is neither a service setting nor an outside server in this process's environment."""
    port = port or free_port()
    return StackConfig(
        data_dir=folder / "data",
        port=port,
        database_url=database_url,
        provider=provider,
        extra_env=dict(env or {}),
        log_dir=folder / "logs",
        base_environ=hermetic_environ(),
        services=plan_services(port, replicas=replicas),
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
