"""``/connect.sh``: a script for every outcome, each one passing shellcheck, every failure
exiting 1 with the reason on stderr."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from pydantic import SecretStr

from claudecloud_common.contracts.instances import InstanceStatus, InstanceView
from gateway.connect import service as connect
from tests.mail import MailCatcher
from tests.support import eventually

from .conftest import bearer, new_email, shellcheck, sign_in


def run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-s"], check=False, input=script, capture_output=True, text=True)


def _view(provider: str, status: InstanceStatus, host: str | None = None) -> InstanceView:
    now = datetime.now(UTC)
    return InstanceView(
        id=uuid4(), user_id=uuid4(), status=status, provider=provider, host=host,
        created_at=now, updated_at=now,
    )  # fmt: skip


def test_the_docker_script_attaches_to_the_users_tmux_session(tmp_path: Path) -> None:
    view = _view("docker", InstanceStatus.RUNNING)
    script = connect.for_instance(view, "https://cloud.example")
    assert f"exec docker exec -it claude-{view.user_id} tmux attach -t claude" in script
    shellcheck(script, tmp_path)


def test_the_hetzner_script_goes_over_the_mesh(tmp_path: Path) -> None:
    script = connect.for_instance(
        _view("hetzner", InstanceStatus.RUNNING, "10.100.7.10:3001"),
        "https://x",
        device_key=SecretStr("ONE-OFF-DEVICE-KEY"),
    )
    assert "HOST=10.100.7.10\n" in script  # tests/netbird/test_connect_script.py runs it
    assert 'mosh "claude@$HOST" -- tmux attach -t claude' in script
    shellcheck(script, tmp_path)


@pytest.mark.parametrize(
    ("provider", "status", "says"),
    [
        ("docker", InstanceStatus.PAUSED, "paused"),
        ("docker", InstanceStatus.PROVISIONING, "still starting"),
        ("docker", InstanceStatus.DESTROYING, "destroying"),
        ("fake", InstanceStatus.RUNNING, "demo mode"),
        ("hetzner", InstanceStatus.RUNNING, "no address"),
    ],
)
def test_every_state_that_cannot_connect_explains_itself(
    provider: str, status: InstanceStatus, says: str, tmp_path: Path
) -> None:
    script = connect.for_instance(_view(provider, status), "https://x")
    shellcheck(script, tmp_path)
    result = run(script)
    assert result.returncode == 1
    assert says in result.stderr
    assert "->" in result.stderr  # and what to do


def test_a_reason_cannot_break_out_of_the_script(tmp_path: Path) -> None:
    script = connect.failure('it\'s $(rm -rf /) `x` "quoted"', "do 'this'")
    shellcheck(script, tmp_path)
    result = run(script)
    assert result.returncode == 1
    assert 'it\'s $(rm -rf /) `x` "quoted"' in result.stderr


async def _script(client: httpx.AsyncClient, **kw: Any) -> httpx.Response:
    return await client.get("/connect.sh", **kw)


async def test_served_failures_are_scripts_too(
    anonymous: httpx.AsyncClient, mail: MailCatcher, tmp_path: Path
) -> None:
    not_signed_in = await _script(anonymous)
    bad_token = await _script(anonymous, headers=bearer("not-a-token"))
    user = await sign_in(anonymous, mail, new_email("connect"))
    no_instance = await _script(anonymous, headers=bearer(user["token"]))

    for response, status, says in [
        (not_signed_in, 401, "not signed in"),
        (bad_token, 401, "invalid session"),
        (no_instance, 404, "no instance"),
    ]:
        assert response.status_code == status
        assert response.headers["content-type"].startswith("text/x-shellscript")
        shellcheck(response.text, tmp_path)
        result = await asyncio.to_thread(run, response.text)
        assert result.returncode == 1
        assert says in result.stderr
        assert result.stdout == ""


@pytest.mark.parametrize("keep_memory", [False, True], ids=["stopped", "frozen"])
async def test_the_connect_script_wakes_a_paused_instance_first(
    anonymous: httpx.AsyncClient, mail: MailCatcher, keep_memory: bool
) -> None:
    user = await sign_in(anonymous, mail, new_email("sleepy"))
    auth = bearer(user["token"])
    instance_id = (await anonymous.post("/instances", headers=auth)).json()["id"]

    async def status_is(wanted: str) -> bool:
        response = await anonymous.get(f"/instances/{instance_id}", headers=auth)
        return bool(response.json()["status"] == wanted)

    await eventually(lambda: status_is("running"), what="running")
    pause = {"keep_memory": keep_memory}
    assert (
        await anonymous.post(f"/instances/{instance_id}/pause", headers=auth, json=pause)
    ).is_success
    await eventually(lambda: status_is("frozen" if keep_memory else "paused"), what="paused")

    response = await _script(anonymous, headers=auth)

    assert response.status_code == 200  # the script for a running instance (here: the demo's)
    assert await status_is("running")
    assert "demo mode" in response.text
