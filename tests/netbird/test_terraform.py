"""The hetzner provider: python-terraform against the stand-in ``terraform`` (tests/fakes), and
the module read with python-hcl2 and matched with what the provider passes and reads."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import hcl2
import pytest
from pydantic import SecretStr

from provisioner.providers import MachineRef, ProviderFailure
from provisioner.providers.hetzner import (
    MODULE_OUTPUTS,
    MODULE_VARIABLES,
    SENSITIVE,
    HetznerOptions,
    HetznerProvider,
    root_module,
)
from tests.netbird.conftest import REPO, TERRAFORM

MODULE = REPO / "terraform" / "modules" / "user_instance"


def _blocks(path: Path, kind: str) -> dict[str, dict[str, Any]]:
    """``variable``/``output`` blocks of an HCL file by name (python-hcl2 keeps the quotes)."""
    with path.open() as f:
        parsed = hcl2.load(f)
    return {name.strip('"'): body for block in parsed.get(kind, []) for name, body in block.items()}


def test_the_provider_passes_exactly_the_module_variables_and_reads_its_outputs(
    tmp_path: Path,
) -> None:
    variables = _blocks(MODULE / "variables.tf", "variable")
    outputs = _blocks(MODULE / "outputs.tf", "output")

    assert set(variables) == set(MODULE_VARIABLES)
    assert {n for n, body in variables.items() if body.get("sensitive") is True} == set(SENSITIVE)
    assert set(outputs) == set(MODULE_OUTPUTS)

    # The workspace's main.tf the provider writes: every module input given, every output read.
    workspace = Path("/nonexistent/workspaces/user-x")
    written = tmp_path / "main.tf"
    written.write_text(root_module(os.path.relpath(MODULE, workspace)))
    with written.open() as f:
        root = hcl2.load(f)
    (module,) = [body for block in root["module"] for body in block.values()]
    inputs = {k for k in module if k not in ("source", "__is_block__")}
    assert inputs == set(MODULE_VARIABLES)
    assert (workspace / module["source"].strip('"')).resolve() == MODULE.resolve()
    root_outputs = {n.strip('"') for block in root["output"] for n in block}
    assert root_outputs == set(MODULE_OUTPUTS)


def provider(workspaces: Path) -> HetznerProvider:
    return HetznerProvider(
        HetznerOptions(
            token=SecretStr("hcloud-test-token"),
            terraform_dir=REPO / "terraform",
            workspaces=workspaces,
            setup_script=REPO / "docker" / "instance" / "setup.sh",
            binary=str(TERRAFORM),
        )
    )


def ref(user_id: uuid.UUID | None = None, key: str | None = "SETUP-KEY") -> MachineRef:
    return MachineRef(
        instance_id=uuid.uuid4(),
        user_id=user_id or uuid.uuid4(),
        setup_key=SecretStr(key) if key else None,
    )


def tfstate(workspaces: Path, user_id: uuid.UUID) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(
        (workspaces / f"user-{user_id}" / "terraform.tfstate").read_text()
    )
    return state


def kinds(state: dict[str, Any]) -> list[str]:
    return sorted(r["type"] for r in state["resources"])


async def test_concurrent_creates_share_neither_workspace_nor_subnet(tmp_path: Path) -> None:
    hetzner = provider(tmp_path)
    (tmp_path / ".slow-apply").touch()
    first = uuid.uuid4()
    # A second user whose preferred subnet (user id mod 250) is the first one's.
    second = uuid.UUID(int=(first.int // 250 + 1) * 250 + first.int % 250)
    assert first.int % 250 == second.int % 250

    one, two = await asyncio.gather(hetzner.create(ref(first)), hetzner.create(ref(second)))

    assert one.network != two.network
    assert one.host != two.host
    assert (tmp_path / f"user-{first}").is_dir()
    assert (tmp_path / f"user-{second}").is_dir()
    for user_id, machine in ((first, one), (second, two)):
        state = tfstate(tmp_path, user_id)
        assert state["outputs"]["subnet"]["value"] == machine.network
        assert kinds(state) == ["hcloud_network", "hcloud_server", "hcloud_volume"]


async def test_runs_for_one_user_are_serialised(tmp_path: Path) -> None:
    hetzner = provider(tmp_path)
    (tmp_path / ".slow-apply").touch()  # each apply holds the state lock long enough to meet
    machine = ref()
    await hetzner.create(machine)

    # A pause and a wake at once: Terraform would refuse the second run on the state lock.
    await asyncio.gather(hetzner.pause(machine, keep_memory=False), hetzner.wake(machine))

    applies = [
        json.loads(line)
        for line in (tmp_path / ".terraform-log.jsonl").read_text().splitlines()
        if json.loads(line)["argv"][0] == "apply"
    ]
    assert len(applies) == 3


async def test_pause_keeps_the_volume_and_wake_rejoins_without_a_new_key(tmp_path: Path) -> None:
    hetzner = provider(tmp_path)
    machine = ref()
    made = await hetzner.create(machine)
    volume = tfstate(tmp_path, machine.user_id)["outputs"]["volume_id"]["value"]

    await hetzner.pause(machine, keep_memory=False)
    assert kinds(tfstate(tmp_path, machine.user_id)) == ["hcloud_network", "hcloud_volume"]
    assert await hetzner.inspect(machine) is None

    woken = await hetzner.wake(MachineRef(machine.instance_id, machine.user_id))  # no key
    assert woken.running
    assert woken.network == made.network
    assert tfstate(tmp_path, machine.user_id)["outputs"]["volume_id"]["value"] == volume

    await hetzner.destroy(machine, purge=True)
    assert not (tmp_path / f"user-{machine.user_id}").exists()


async def test_a_failed_apply_says_why_and_leaves_no_server(tmp_path: Path) -> None:
    hetzner = provider(tmp_path)
    (tmp_path / ".fail-apply").touch()
    machine = ref()

    with pytest.raises(ProviderFailure, match=r"terraform apply failed: .*server_type unavailable"):
        await hetzner.create(machine)

    assert kinds(tfstate(tmp_path, machine.user_id)) == ["hcloud_network", "hcloud_volume"]


async def test_secrets_never_reach_the_workspace_or_the_command_line(tmp_path: Path) -> None:
    hetzner = provider(tmp_path)
    machine = ref(key="VERY-SECRET-SETUP-KEY")
    await hetzner.create(machine)

    workspace = tmp_path / f"user-{machine.user_id}"
    written = "".join(
        p.read_text() for p in workspace.iterdir() if p.is_file() and p.name != ".agent-secret"
    )
    assert "VERY-SECRET-SETUP-KEY" not in written
    assert "hcloud-test-token" not in written
    assert "VERY-SECRET-SETUP-KEY" not in (tmp_path / ".terraform-log.jsonl").read_text()


def test_provider_hetzner_is_refused_at_start_naming_what_is_missing(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PROVIDER": "hetzner",
        "DATA_DIR": str(tmp_path),
        "TERRAFORM_BINARY": str(tmp_path / "no-terraform-here"),
    }
    ran = subprocess.run(
        [sys.executable, "-m", "provisioner"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 2
    assert "HCLOUD_TOKEN" in ran.stderr
    assert "NETBIRD_API_TOKEN" in ran.stderr
    assert "terraform executable" in ran.stderr
    assert "Traceback" not in ran.stderr


async def test_the_plan_sizes_the_server(tmp_path: Path) -> None:
    hetzner = provider(tmp_path)
    small, large = ref(), ref()
    await hetzner.create(small)
    await hetzner.create(replace(large, cpus=4.0, memory_mb=8192))

    def server_type(user_id: uuid.UUID) -> str:
        values = json.loads((tmp_path / f"user-{user_id}" / "terraform.tfvars.json").read_text())
        return str(values["server_type"])

    assert server_type(small.user_id) == "cx22"  # no plan: the setting
    assert server_type(large.user_id) == "cx32"  # 4 vCPUs and 8 GB fit Hetzner's cx32
