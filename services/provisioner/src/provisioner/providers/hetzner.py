"""Hetzner through Terraform: one workspace per user, ``terraform/workspaces/user-{id}/``, using
``terraform/modules/user_instance`` (a server with cloud-init, a persistent volume, a private
subnet ``10.100.{n}.0/24``), driven with ``python-terraform``.

Create and wake apply with the server on (the server's Netbird identity lives on the volume, so
a woken server rejoins the mesh as the same peer without a new setup key); pause applies with it
off (the server is destroyed, the volume and network stay); destroy does the same, or
``terraform destroy`` when purging. Runs for
one user are serialised; a failed apply is followed by an apply with the server off, so no
half-made server is left, and raised with Terraform's last words. Secrets (the Hetzner token, the
setup key, the agent secret) reach Terraform only through a temporary var file python-terraform
removes after the run, never the workspace.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from pydantic import SecretStr
from python_terraform import IsFlagged, IsNotFlagged, Terraform

from claudecloud_agentapi import AgentCredential
from claudecloud_common.contracts.instances import HostMemory
from claudecloud_common.contracts.providers import ProviderKind
from claudecloud_common.locks import KeyedLock

from .base import Activity, Machine, MachineRef, OwnedMachine, ProviderFailure

__all__ = ["MODULE_OUTPUTS", "MODULE_VARIABLES", "HetznerOptions", "HetznerProvider"]

MODULE_VARIABLES = (
    "user_id",
    "instance_id",
    "subnet_index",
    "server_type",
    "location",
    "image",
    "server_enabled",
    "volume_size_gb",
    "agent_port",
    "setup_script",
    "setup_key",
    "agent_secret",
    "gateway_url",
)
"""What the provider passes to the module (a test matches it with the module's variables)."""
SENSITIVE = ("setup_key", "agent_secret")
MODULE_OUTPUTS = ("server_id", "ipv4_address", "private_ip", "subnet", "volume_id")
"""What the provider reads back after an apply (a test matches it with the module's outputs)."""
SUBNETS = 250
T = TypeVar("T")


@dataclass(frozen=True)
class HetznerOptions:
    token: SecretStr
    terraform_dir: Path
    """Holds ``modules/user_instance`` and ``workspaces/``."""
    setup_script: Path
    binary: str = "terraform"
    server_type: str = "cx22"
    location: str = "fsn1"
    image: str = "ubuntu-24.04"
    volume_size_gb: int = 20
    agent_port: int = 3001
    workspaces: Path | None = None
    gateway_url: str | None = None
    """The gateway's workstation listener as the servers reach it (over the mesh, or public)."""
    """Where the per-user workspaces live; default ``terraform_dir/workspaces``."""


class HetznerProvider:
    name = ProviderKind.HETZNER
    pool = None

    def __init__(self, options: HetznerOptions) -> None:
        self.options = options
        self.root = (options.workspaces or options.terraform_dir / "workspaces").resolve()
        self.module = (options.terraform_dir / "modules" / "user_instance").resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._locks: KeyedLock[UUID] = KeyedLock()

    # The protocol

    async def create(self, ref: MachineRef) -> Machine:
        if ref.setup_key is None:
            raise ProviderFailure("a Hetzner instance needs a Netbird setup key to enrol")
        return await self._run(ref, self._apply_on, ref.setup_key)

    async def wake(self, ref: MachineRef) -> Machine:
        return await self._run(ref, self._apply_on, ref.setup_key)

    async def pause(self, ref: MachineRef, *, keep_memory: bool) -> None:
        # A server cannot be frozen (the capability says so): a pause always stops it.
        await self._run(ref, self._apply_off)

    async def host_memory(self) -> HostMemory | None:
        return None  # a server per user: no host is shared

    async def destroy(self, ref: MachineRef, *, purge: bool) -> None:
        await self._run(ref, self._purge if purge else self._apply_off)

    async def inspect(self, ref: MachineRef) -> Machine | None:
        outputs = await self._run(ref, self._outputs)
        if not outputs.get("server_id"):
            return None
        return self._machine(outputs, None)

    async def activity(self, ref: MachineRef) -> Activity:
        machine = await self.inspect(ref)
        running = machine is not None
        return Activity(running=running, healthy=running)

    async def inventory(self) -> list[OwnedMachine]:
        found = []
        for workspace in sorted(self.root.glob("user-*")):
            values = _read_json(workspace / "terraform.tfvars.json")
            outputs = _state_outputs(workspace / "terraform.tfstate")
            if values and outputs.get("server_id"):
                found.append(
                    OwnedMachine(
                        provider_id=str(outputs["server_id"]),
                        instance_id=UUID(values["instance_id"]),
                        user_id=UUID(values["user_id"]),
                        running=True,
                    )
                )
        return found

    async def remove_orphan(self, machine: OwnedMachine) -> None:
        if machine.instance_id is None or machine.user_id is None:
            return  # not a server of ours: every one of ours says whose it is
        ref = MachineRef(instance_id=machine.instance_id, user_id=machine.user_id)
        await self.pause(ref, keep_memory=False)

    async def close(self) -> None:
        return None

    # One user's runs, one at a time

    async def _run(self, ref: MachineRef, step: Callable[..., T], *args: Any) -> T:
        async with self._locks.hold(ref.user_id):
            return await asyncio.to_thread(self._locked, ref, step, *args)

    def _locked(self, ref: MachineRef, step: Callable[..., T], *args: Any) -> T:
        """``step`` while holding the user's lock file: replicas sharing the workspaces too
        take turns (the asyncio lock spares this process's threads the wait)."""
        with (self.root / f".user-{ref.user_id}.lock").open("a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            try:
                return step(ref, *args)
            finally:
                fcntl.flock(held, fcntl.LOCK_UN)

    def workspace(self, user_id: UUID) -> Path:
        return self.root / f"user-{user_id}"

    def _apply_on(self, ref: MachineRef, setup_key: SecretStr | None) -> Machine:
        workspace = self._prepare(ref, server_enabled=True)
        secret = self._agent_secret(workspace)
        kept = _kept(secret)
        key = setup_key.get_secret_value() if setup_key else ""
        try:
            self._terraform(workspace, "apply", setup_key=key, agent_secret=kept)
        except ProviderFailure:
            self._write_values(workspace, ref, server_enabled=False)
            with contextlib.suppress(ProviderFailure):  # best effort: the first error is the news
                self._terraform(workspace, "apply", setup_key="", agent_secret=kept)
            raise
        return self._machine(self._read_outputs(workspace), SecretStr(secret))

    def _apply_off(self, ref: MachineRef) -> None:
        workspace = self.workspace(ref.user_id)
        if not (workspace / "terraform.tfvars.json").exists():
            return  # nothing was ever made
        self._prepare(ref, server_enabled=False)
        self._terraform(
            workspace, "apply", setup_key="", agent_secret=_kept(self._agent_secret(workspace))
        )

    def _purge(self, ref: MachineRef) -> None:
        workspace = self.workspace(ref.user_id)
        if not (workspace / "terraform.tfvars.json").exists():
            return
        self._terraform(workspace, "destroy", setup_key="", agent_secret="")
        self._release_subnet(ref.user_id)
        for path in sorted(workspace.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        workspace.rmdir()

    def _outputs(self, ref: MachineRef) -> dict[str, Any]:
        return _state_outputs(self.workspace(ref.user_id) / "terraform.tfstate")

    # The workspace

    def _prepare(self, ref: MachineRef, *, server_enabled: bool) -> Path:
        workspace = self.workspace(ref.user_id)
        workspace.mkdir(parents=True, exist_ok=True)
        (workspace / "main.tf").write_text(root_module(os.path.relpath(self.module, workspace)))
        self._write_values(workspace, ref, server_enabled=server_enabled)
        return workspace

    def _write_values(self, workspace: Path, ref: MachineRef, *, server_enabled: bool) -> None:
        values = {
            "user_id": str(ref.user_id),
            "instance_id": str(ref.instance_id),
            "subnet_index": self.subnet_index(ref.user_id),
            "server_type": server_type(ref, self.options.server_type),
            "location": self.options.location,
            "image": self.options.image,
            "server_enabled": server_enabled,
            "volume_size_gb": self.options.volume_size_gb,
            "agent_port": self.options.agent_port,
            "setup_script": self.options.setup_script.read_text(),
            "gateway_url": self.options.gateway_url or "",
        }
        _write_json(workspace / "terraform.tfvars.json", values)

    def _agent_secret(self, workspace: Path) -> str:
        path = workspace / ".agent-secret"
        if not path.exists():
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def _terraform(self, workspace: Path, command: str, **secret_vars: str) -> None:
        """Run ``init`` then ``command`` in ``workspace``; raise ProviderFailure with
        Terraform's last lines when either fails."""
        tf = Terraform(working_dir=str(workspace), terraform_bin_path=self.options.binary)
        code, _, err = tf.init(no_color=IsFlagged, input=False, var=None, capture_output=True)
        if code != 0:
            raise ProviderFailure(f"terraform init failed: {_last_words(err)}")
        variables = {"hcloud_token": self.options.token.get_secret_value(), **secret_vars}
        if command == "apply":
            code, _, err = tf.apply(skip_plan=True, var=variables, capture_output=True)
        else:
            code, _, err = tf.destroy(
                force=IsNotFlagged, auto_approve=IsFlagged, var=variables, capture_output=True
            )
        if code != 0:
            raise ProviderFailure(f"terraform {command} failed: {_last_words(err)}")

    def _read_outputs(self, workspace: Path) -> dict[str, Any]:
        tf = Terraform(working_dir=str(workspace), terraform_bin_path=self.options.binary)
        found = tf.output(capture_output=True)
        if not isinstance(found, dict):
            raise ProviderFailure("terraform output gave nothing after a successful apply")
        missing = [name for name in MODULE_OUTPUTS if name not in found]
        if missing:
            raise ProviderFailure(f"terraform output lacks {', '.join(missing)}")
        return {name: found[name]["value"] for name in MODULE_OUTPUTS}

    def _machine(self, outputs: dict[str, Any], secret: SecretStr | None) -> Machine:
        return Machine(
            provider_id=str(outputs["server_id"]),
            running=bool(outputs["server_id"]),
            host=f"{outputs['private_ip']}:{self.options.agent_port}",
            agent_secret=secret,
            network=str(outputs["subnet"]),
        )

    # Subnets: 10.100.n.0/24, one n per user, never two users on one

    def subnet_index(self, user_id: UUID) -> int:
        with self._subnets() as taken:
            if str(user_id) in taken:
                return int(taken[str(user_id)])
            used = set(taken.values())
            start = user_id.int % SUBNETS
            for step in range(SUBNETS):
                n = (start + step) % SUBNETS + 1
                if n not in used:
                    taken[str(user_id)] = n
                    return n
        raise ProviderFailure(f"all {SUBNETS} subnets 10.100.n.0/24 are taken")

    def _release_subnet(self, user_id: UUID) -> None:
        with self._subnets() as taken:
            taken.pop(str(user_id), None)

    @contextlib.contextmanager
    def _subnets(self) -> Iterator[dict[str, int]]:
        """The user → n table, locked across threads and processes while in use."""
        path = self.root / "subnets.json"
        with (self.root / ".subnets.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                taken: dict[str, int] = _read_json(path) or {}
                yield taken
                _write_json(path, taken)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


SERVER_TYPES = ((2, 4096, "cx22"), (4, 8192, "cx32"), (8, 16384, "cx42"), (16, 32768, "cx52"))
"""Hetzner's shared-vCPU types: (vCPUs, memory MB, name), smallest first."""


def server_type(ref: MachineRef, default: str) -> str:
    """The smallest server type that fits the user's plan; ``default`` without one."""
    if ref.cpus is None and ref.memory_mb is None:
        return default
    for cpus, memory_mb, name in SERVER_TYPES:
        if (ref.cpus or 0) <= cpus and (ref.memory_mb or 0) <= memory_mb:
            return name
    return SERVER_TYPES[-1][2]


def root_module(module_source: str) -> str:
    """The workspace's ``main.tf``: the module with every input a variable of the workspace."""
    variables = "\n".join(
        f'variable "{name}" {{\n  sensitive = true\n}}\n'
        if name in SENSITIVE
        else f'variable "{name}" {{}}\n'
        for name in MODULE_VARIABLES
    )
    inputs = "\n".join(f"  {name} = var.{name}" for name in MODULE_VARIABLES)
    outputs = "\n".join(
        f'output "{name}" {{\n  value = module.instance.{name}\n}}\n' for name in MODULE_OUTPUTS
    )
    return (
        "# Written by the hetzner provider for one user; the state beside it is theirs.\n\n"
        'variable "hcloud_token" {\n  sensitive = true\n}\n\n'
        'provider "hcloud" {\n  token = var.hcloud_token\n}\n\n'
        f"{variables}\n"
        f'module "instance" {{\n  source = "{module_source}"\n{inputs}\n}}\n\n'
        f"{outputs}"
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=2))
    os.replace(tmp, path)


def _state_outputs(path: Path) -> dict[str, Any]:
    state = _read_json(path) or {}
    return {name: found.get("value") for name, found in state.get("outputs", {}).items()}


def _last_words(err: str | None) -> str:
    lines = [line.strip() for line in (err or "").splitlines() if line.strip()]
    return " ".join(lines[-3:])[:500] or "no error output"


def _kept(secret: str) -> str:
    """What the server is given of its agent's secret (its user data is readable on it)."""
    return AgentCredential.of(secret).dump()
