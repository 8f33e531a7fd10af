"""The connect script of a Hetzner instance, run by bash with stand-in ``netbird``, ``mosh`` and
``ssh``: it joins the mesh with the device key, then attaches to tmux over mosh (ssh without
mosh); every failure says why and exits 1. It passes shellcheck."""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from claudecloud_common.contracts.instances import InstanceStatus, InstanceView
from gateway.connect.service import for_instance

KEY = "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"


def script(host: str | None = "10.100.7.10:3001", key: str | None = KEY) -> str:
    now = datetime.now(UTC)
    view = InstanceView(
        id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        status=InstanceStatus.RUNNING,
        provider="hetzner",
        host=host,
        created_at=now,
        updated_at=now,
    )
    return for_instance(view, "http://cloud.test", device_key=SecretStr(key) if key else None)


def stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f'#!/bin/bash\necho "{name} $*" >> "{folder}/calls"\n{body}\n')
    path.chmod(0o755)


def run(text: str, folder: Path) -> subprocess.CompletedProcess[str]:
    # Only the stand-ins and the basic tools bash needs: no real netbird, mosh or ssh.
    basics = folder / "basics"
    basics.mkdir(exist_ok=True)
    for tool in ("grep", "printf", "cat"):
        target = basics / tool
        if not target.exists():
            target.symlink_to(subprocess.check_output(["which", tool], text=True).strip())
    return subprocess.run(
        ["/bin/bash"],
        input=text,
        capture_output=True,
        text=True,
        env={"PATH": f"{folder}:{basics}"},
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


def test_it_joins_the_mesh_with_the_device_key_then_attaches_over_mosh(tmp_path: Path) -> None:
    stub(tmp_path, "netbird", '[ "$1" = status ] && exit 1; exit 0')
    stub(tmp_path, "mosh", "exit 0")
    ran = run(script(), tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert calls(tmp_path) == [
        "netbird status",
        f"netbird up --setup-key {KEY}",
        "mosh claude@10.100.7.10 -- tmux attach -t claude",
    ]


def test_an_already_connected_device_does_not_join_again_and_ssh_stands_in(
    tmp_path: Path,
) -> None:
    stub(tmp_path, "netbird", "echo 'Management: Connected'")
    stub(tmp_path, "ssh", "exit 0")
    ran = run(script(), tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert calls(tmp_path) == ["netbird status", "ssh -t claude@10.100.7.10 tmux attach -t claude"]


@pytest.mark.parametrize(
    ("stubs", "says"),
    [
        pytest.param({}, "the Netbird client is missing and curl is not there", id="no-netbird"),
        pytest.param(
            {"netbird": '[ "$1" = status ] && exit 1; exit 1'},
            "could not join your private network",
            id="join-refused",
        ),
        pytest.param(
            {"netbird": "echo 'Management: Connected'"},
            "neither mosh nor ssh is installed",
            id="no-mosh-no-ssh",
        ),
        pytest.param(
            {"netbird": "echo 'Management: Connected'", "mosh": "exit 255"},
            "the connection to 10.100.7.10 ended with an error",
            id="mosh-fails",
        ),
        pytest.param(
            {"netbird": "echo 'Management: Connected'", "curl": "exit 7"},
            "neither mosh nor ssh",
            id="curl-unused-when-netbird-is-there",
        ),
    ],
)
def test_every_failure_says_why_and_exits_1(
    tmp_path: Path, stubs: dict[str, str], says: str
) -> None:
    for name, body in stubs.items():
        stub(tmp_path, name, body)
    ran = run(script(), tmp_path)
    assert ran.returncode == 1
    assert says in ran.stderr
    assert "  -> " in ran.stderr  # and what to do


def test_without_a_key_or_an_address_it_explains_and_exits_1(tmp_path: Path) -> None:
    for text in (script(key=None), script(host=None)):
        ran = run(text, tmp_path)
        assert ran.returncode == 1
        assert "run this again" in ran.stderr
