"""What a workstation's container is made of: names, labels, limits, the secret's file, and what a
container says of itself (its address, its state)."""

from __future__ import annotations

import io
import tarfile
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from docker.models.containers import Container
from pydantic import SecretStr

from claudecloud_agentapi import AgentCredential

from ..base import Machine, MachineRef

LABEL_MANAGED = "io.claudecloud.managed"
LABEL_DEPLOYMENT = "io.claudecloud.deployment"
LABEL_INSTANCE = "io.claudecloud.instance-id"
LABEL_USER = "io.claudecloud.user-id"
LABEL_SLOT = "io.claudecloud.pool-slot"
"""On a warm pool's container: its slot, for good (labels cannot change once it is claimed)."""
DATA_PATH = "/claude-data"
SECRET_FILE = "etc/claudecloud/agent-secret"  # noqa: S105 (a path, not a secret)
"""Where the agent reads its secret (never the environment, which ``docker inspect`` shows)."""
HOST_ALIAS = "host.docker.internal"
"""The host as a container reaches it (``make run``'s gateway listens there for agents)."""
API_VERSION = "1.41"  # Docker 20.10; newer engines serve it too, and no call is made to negotiate
CPU_PERIOD = 100_000
"""CPU limits as period and quota (not NanoCpus): ``docker update`` can change those live."""


@dataclass(frozen=True)
class DockerOptions:
    """What the provider makes and how it hardens it (from ``PROVISIONER_DOCKER_*``)."""

    url: str | None
    image: str
    network: str
    deployment: str
    memory: str
    cpus: float
    pids: int
    cap_add: tuple[str, ...]
    user: str
    agent_port: int
    publish_host: str
    ready_timeout: float
    stop_timeout: int
    api_timeout: float
    user_id: int = 1000
    """The image's user's uid: the secret's file is its own."""
    gateway_url: str | None = None
    """The gateway as the container reaches it, for the agent (git credentials); not a secret."""


def container_name(user_id: UUID) -> str:
    return f"claude-{user_id}"


def volume_name(user_id: UUID) -> str:
    return f"claude-data-{user_id}"


def pool_name(slot_id: UUID) -> str:
    """A warm pool's container (and its volume) before a create claims it."""
    return f"claude-pool-{slot_id}"


def labels(options: DockerOptions, ref: MachineRef) -> dict[str, str]:
    return {
        **_ours(options),
        LABEL_INSTANCE: str(ref.instance_id),
        LABEL_USER: str(ref.user_id),
        **({LABEL_SLOT: str(ref.slot_id)} if ref.slot_id else {}),
    }


def pool_labels(options: DockerOptions, slot_id: UUID) -> dict[str, str]:
    return {**_ours(options), LABEL_SLOT: str(slot_id)}


def _ours(options: DockerOptions) -> dict[str, str]:
    return {LABEL_MANAGED: "true", LABEL_DEPLOYMENT: options.deployment}


def size(options: DockerOptions, ref: MachineRef) -> dict[str, Any]:
    """The limits the plan gives (or the settings'), as ``create`` and ``update`` take them."""
    memory = f"{ref.memory_mb}m" if ref.memory_mb else options.memory
    cpus = ref.cpus or options.cpus
    return {
        "mem_limit": memory,
        "memswap_limit": memory,  # both, always: memory past the old swap limit is refused
        "cpu_period": CPU_PERIOD,
        "cpu_quota": int(cpus * CPU_PERIOD),
    }


def resized(container: Container, options: DockerOptions, ref: MachineRef) -> bool:
    """Whether the container's limits differ from what ``ref`` asks for."""
    host = container.attrs.get("HostConfig") or {}
    wanted = size(options, ref)
    return host.get("CpuQuota") != wanted["cpu_quota"] or host.get("Memory") != _bytes(
        wanted["mem_limit"]
    )


def _bytes(amount: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    unit = amount[-1].lower()
    return int(float(amount[:-1]) * units[unit]) if unit in units else int(amount)


def ours_filter(options: DockerOptions) -> dict[str, list[str]]:
    """The engine's filter for everything this deployment made."""
    return {"label": [f"{key}={value}" for key, value in _ours(options).items()]}


def spec(
    options: DockerOptions,
    ref: MachineRef,
    *,
    name: str,
    volume: str,
    marks: dict[str, str],
    instance: UUID | None,
) -> dict[str, Any]:
    """``containers.create``'s arguments: hardened, limited (as ``ref`` says), labelled with
    ``marks``, the agent's port published; ``instance``: the instance it is (a pool machine's
    agent learns it when claimed)."""
    port = f"{options.agent_port}/tcp"
    environment = {"AGENT_PORT": str(options.agent_port)}
    if instance is not None:
        environment["AGENT_INSTANCE_ID"] = str(instance)
    if options.gateway_url:
        environment["AGENT_GATEWAY_URL"] = options.gateway_url
    return {
        "image": options.image,
        "name": name,
        "hostname": "claude",
        "labels": marks,
        "environment": environment,
        "extra_hosts": {HOST_ALIAS: "host-gateway"},
        "volumes": {volume: {"bind": DATA_PATH, "mode": "rw"}},
        "network": options.network,
        "ports": {port: (options.publish_host, None)} if options.publish_host else {},
        "user": options.user,
        "init": True,
        "security_opt": ["no-new-privileges:true"],
        "cap_drop": ["ALL"],
        "cap_add": list(options.cap_add) or None,
        "pids_limit": options.pids,
        "stop_signal": "SIGTERM",
        "detach": True,
        **size(options, ref),
    }


def secret_archive(secret: SecretStr, uid: int) -> bytes:
    """A tar of the agent's secret file (only its user may read it), for ``put_archive``: what
    the machine keeps of the secret (``AgentCredential``), never the secret, since the user's
    processes run as that user."""
    data = AgentCredential.of(secret.get_secret_value()).dump().encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in ("etc/claudecloud",):
            entry = tarfile.TarInfo(folder)
            entry.type, entry.mode, entry.uid, entry.gid = tarfile.DIRTYPE, 0o700, uid, uid
            entry.mtime = int(time.time())
            tar.addfile(entry)
        entry = tarfile.TarInfo(SECRET_FILE)
        entry.size, entry.mode, entry.uid, entry.gid = len(data), 0o600, uid, uid
        entry.mtime = int(time.time())
        tar.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


def machine(options: DockerOptions, container: Container, secret: SecretStr | None) -> Machine:
    """What ``container`` is, with the secret its agent accepts (``secret``, or the environment's
    on a container made before secrets moved to a file)."""
    env = dict(e.split("=", 1) for e in container.attrs["Config"].get("Env") or [])
    legacy = env.get("AGENT_SECRET")
    running = container.status in ("running", "paused")  # paused: frozen, still up
    return Machine(
        provider_id=container.id,
        running=running,
        host=host(options, container) if running else None,
        agent_secret=secret or (SecretStr(legacy) if legacy else None),
        frozen=container.status == "paused",
    )


def host(options: DockerOptions, container: Container) -> str | None:
    settings = container.attrs["NetworkSettings"]
    if options.publish_host:
        bindings = (settings.get("Ports") or {}).get(f"{options.agent_port}/tcp") or []
        return f"{options.publish_host}:{bindings[0]['HostPort']}" if bindings else None
    address = (settings.get("Networks") or {}).get(options.network, {}).get("IPAddress")
    return f"{address}:{options.agent_port}" if address else None
