"""``GET /connect.sh``: every answer is a script; piped into bash, a failure says why and exits 1
(``curl -sS URL | bash``, as the README tells people to run it)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from uuid import uuid4

import httpx

from claudecloud_common.contracts.instances import InstanceStatus

from .conftest import ADMIN_KEY, BrokenProvisioner, Gateway, running

ADMIN = {"X-API-Key": ADMIN_KEY}


def run_in_bash(script: str) -> subprocess.CompletedProcess[str]:
    """What ``curl -sS URL | bash`` does with the answer."""
    return subprocess.run(
        ["bash"], input=script, capture_output=True, text=True, timeout=10, check=False
    )


async def connect(gateway: Gateway, query: str = "", **headers: str) -> httpx.Response:
    response = await gateway.client.get(f"/connect.sh{query}", headers=headers)
    assert response.headers["content-type"].startswith("text/x-shellscript"), response.text
    return response


async def test_a_malformed_user_id_is_a_script_that_says_so(gateway: Gateway) -> None:
    response = await connect(gateway, "?user_id=not-a-uuid")  # as the issue ran it: no key
    ran = run_in_bash(response.text)

    assert response.status_code == 400
    assert ran.returncode == 1
    assert "claude-cloud: ?user_id='not-a-uuid' is not a user id" in ran.stderr
    assert "command not found" not in ran.stderr


async def test_not_signed_in_is_a_script_that_says_so(gateway: Gateway) -> None:
    ran = run_in_bash((await connect(gateway)).text)

    assert ran.returncode == 1
    assert "claude-cloud: you are not signed in" in ran.stderr
    assert "claude-cloud login" in ran.stderr


async def test_a_provisioner_that_does_not_answer_is_a_script_that_says_so(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, BrokenProvisioner(hang=True)) as gateway:  # the rpc times out
        response = await connect(gateway, f"?user_id={uuid4()}", **ADMIN)
    ran = run_in_bash(response.text)

    assert response.status_code == 503
    assert ran.returncode == 1
    assert "claude-cloud: the platform is busy or restarting" in ran.stderr


async def test_a_server_error_is_a_script_that_says_so(tmp_path: Path) -> None:
    async with running(tmp_path, BrokenProvisioner(garbled=True)) as gateway:  # a bug somewhere
        response = await connect(gateway, f"?user_id={uuid4()}", **ADMIN)
    ran = run_in_bash(response.text)

    assert response.status_code == 500
    assert ran.returncode == 1
    assert "claude-cloud: the server could not prepare your connection" in ran.stderr


async def test_a_paused_instance_is_woken_before_its_script_is_made(gateway: Gateway) -> None:
    owner = uuid4()
    instance_id = await gateway.instance(owner, InstanceStatus.PAUSED)
    response = await connect(gateway, f"?user_id={owner}", **ADMIN)

    assert response.status_code == 200
    assert "demo mode" in run_in_bash(response.text).stderr  # the running fake's script
    view = await gateway.client.get(f"/instances/{instance_id}", headers=ADMIN)
    assert view.json()["status"] == "running"


async def test_a_destroyed_instance_is_no_instance(gateway: Gateway) -> None:
    owner = uuid4()
    await gateway.instance(owner, InstanceStatus.DESTROYED)
    response = await connect(gateway, f"?user_id={owner}", **ADMIN)
    ran = run_in_bash(response.text)

    assert response.status_code == 404
    assert ran.returncode == 1
    assert "you have no instance yet" in ran.stderr
