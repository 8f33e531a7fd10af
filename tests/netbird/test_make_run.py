"""``make run`` with ``PROVIDER=hetzner``: the netbird service starts beside the others (and only
then), a workstation is made through the saga against the fake Netbird and the stand-in
Terraform, and the connect script is the mesh one. Without its settings the launcher refuses to
start and says what is missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from devstack.stack import plan_services
from tests.fakes.netbird import FAKE_TOKEN, serve_fake
from tests.launcher import Launch, launching
from tests.netbird.conftest import REPO, TERRAFORM
from tests.support import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    with launching(tmp_path) as start:
        yield start


def test_the_netbird_service_runs_only_with_hetzner() -> None:
    assert "netbird" not in [s.name for s in plan_services(8000, environ={"PROVIDER": "docker"})]
    assert "netbird" in [s.name for s in plan_services(8000, environ={"PROVIDER": "hetzner"})]


async def test_make_run_with_hetzner_makes_a_workstation_through_the_mesh_saga(
    launch: Launch, tmp_path: Path
) -> None:
    async with serve_fake() as (netbird, url):
        launcher = launch(
            PROVIDER="hetzner",
            HCLOUD_TOKEN="hcloud-test-token",
            NETBIRD_API_URL=url,
            NETBIRD_API_TOKEN=FAKE_TOKEN,
            TERRAFORM_BINARY=str(TERRAFORM),
            TERRAFORM_DIR=str(REPO / "terraform"),
            TERRAFORM_WORKSPACES=str(tmp_path / "workspaces"),
            INSTANCE_SETUP_SCRIPT=str(REPO / "docker" / "instance" / "setup.sh"),
        )
        key = await launcher.banner()
        assert launcher.service_process("netbird").is_running()
        user_id = str(uuid4())
        async with launcher.api(key) as api:
            created = await api.post("/instances", json={"user_id": user_id})
            assert created.status_code == 202, created.text

            async def running() -> dict[str, object] | None:
                found = (await api.get(f"/instances/{created.json()['id']}")).json()
                return found if found["status"] == "running" else None

            instance = await eventually(running, timeout=60, what="the instance running")
            script = await api.get("/connect.sh", params={"user_id": user_id})

    assert instance["provider"] == "hetzner"
    found = netbird.resources()
    assert (found["groups"], found["routes"], found["policies"]) == (1, 1, 1)
    # The server's one-off key, and one the connect script got for the caller's own device.
    names = sorted(k["name"] for k in netbird.setup_keys.values())
    assert [n.endswith("-device") for n in names] == [False, True]
    (group_id,) = netbird.groups
    assert all(k["auto_groups"] == [group_id] for k in netbird.setup_keys.values())
    device = next(i for i, k in netbird.setup_keys.items() if k["name"].endswith("-device"))
    assert f"SETUP_KEY={netbird.key_secrets[device]}" in script.text
    assert netbird.refused == []
    assert (tmp_path / "workspaces" / f"user-{user_id}" / "terraform.tfstate").exists()
    assert script.status_code == 200
    assert "netbird up" in script.text
    assert "HOST=10.100." in script.text


async def test_make_run_with_hetzner_without_its_settings_says_what_is_missing(
    launch: Launch, tmp_path: Path
) -> None:
    launcher = launch(PROVIDER="hetzner", TERRAFORM_BINARY=str(tmp_path / "none"))

    def exited() -> bool:
        return launcher.child.returncode is not None

    await eventually(exited, timeout=60, what="the launcher to give up")
    assert launcher.child.returncode == 1, launcher.output[-3000:]
    for missing in ("HCLOUD_TOKEN", "NETBIRD_API_TOKEN", "terraform executable"):
        assert missing in launcher.output, launcher.output[-3000:]
    async with httpx.AsyncClient(timeout=1) as http:
        with pytest.raises(httpx.HTTPError):
            await http.get(f"http://127.0.0.1:{launcher.port}/healthz")
