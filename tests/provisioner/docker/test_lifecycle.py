"""A user's instance on a real Docker engine, through the gateway: hardened and isolated, its
agent restarted when it dies. (What every provider's instance does, usable when ``running``
and keeping its data across pause, wake and destroy, is ``tests/provisioner/lifecycle``.)"""

from __future__ import annotations

import uuid

import httpx

from .conftest import DockerPlatform, agent_secret, eventually, exec_in


async def agent_answers(host: str, secret: str) -> bool:
    """Whether the agent at ``host`` answers ``/healthz`` with the instance's secret."""
    headers = {"Authorization": f"Bearer {secret}"}
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            return (await client.get(f"http://{host}/healthz", headers=headers)).status_code == 200
    except httpx.HTTPError:
        return False


def health(platform: DockerPlatform, user_id: uuid.UUID) -> str | None:
    container = platform.container(user_id)
    if container is None:
        return None
    status: str = container.attrs["State"].get("Health", {}).get("Status", "none")
    return status


async def test_containers_are_hardened_and_isolated(platform: DockerPlatform) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    a, b = await platform.create(alice), await platform.create(bob)
    a_view = await platform.wait_status(a["id"], "running")
    b_view = await platform.wait_status(b["id"], "running")
    a_box, b_box = platform.container(alice), platform.container(bob)
    assert a_box is not None
    assert b_box is not None

    host_config, config = a_box.attrs["HostConfig"], a_box.attrs["Config"]
    assert host_config["CapDrop"] == ["ALL"]
    assert not host_config["CapAdd"]
    assert "no-new-privileges:true" in host_config["SecurityOpt"]
    assert host_config["Memory"] == 1024**3
    assert host_config["CpuQuota"] / host_config["CpuPeriod"] == 1.0  # 1 CPU, updatable live
    assert not any(e.startswith("AGENT_SECRET=") for e in config["Env"])  # not in inspect
    assert host_config["PidsLimit"] == 512
    assert host_config["Init"] is True
    assert config["User"] == "claude"
    assert config["Labels"]["io.claudecloud.instance-id"] == a["id"]
    code, text = exec_in(
        a_box, "id -u; grep NoNewPrivs /proc/self/status; grep CapEff /proc/self/status"
    )
    assert code == 0
    uid, no_new_privs, caps = text.split("\n")[:3]
    assert uid != "0"
    assert no_new_privs.split() == ["NoNewPrivs:", "1"]
    assert caps.split() == ["CapEff:", "0000000000000000"]

    # The agent's secret is in no process's environment (the panes', Claude's, the agent's own),
    # in no file the user can read (the machine keeps only a verifier of it), nor in inspect.
    secret = agent_secret(platform, a["id"])
    code, environ = exec_in(a_box, "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'")
    assert "HOME=" in environ  # the environments were read
    assert secret not in environ
    _code, files = exec_in(
        a_box, f"grep -rlsF --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev -- {secret} /"
    )
    assert files.strip() == "", f"the agent's secret is readable in: {files}"
    code, kept = exec_in(a_box, "cat /etc/claudecloud/agent-secret")
    assert code == 0
    assert kept.startswith("agent-credential:v1:")
    assert secret not in str(a_box.attrs)  # nor anywhere docker inspect shows
    # The agent's memory, where callers' secrets pass, is closed to the user's processes
    code, said = exec_in(a_box, "cat /proc/$(pgrep -o -f -- '-m agent')/environ")
    assert code != 0
    assert "Permission denied" in said

    # The host (where the gateway and the activity service run) reaches both agents...
    for view in (a_view, b_view):
        assert await agent_answers(view["host"], agent_secret(platform, view["id"]))
    # ...while one instance reaches neither the other's address nor its published port.
    b_ip = b_box.attrs["NetworkSettings"]["Networks"][platform.network]["IPAddress"]
    gateway_ip = b_box.attrs["NetworkSettings"]["Networks"][platform.network]["Gateway"]
    b_port = b_view["host"].rsplit(":", 1)[1]
    for target in (f"{b_ip}:3001", f"{gateway_ip}:{b_port}"):
        code, text = exec_in(a_box, f"curl -sS -m 3 -o /dev/null http://{target}/healthz")
        assert code != 0, f"{target} was reachable from another instance: {text}"
    # (and the check itself works: the same request inside B reaches its own agent)
    code, _ = exec_in(b_box, "curl -sS -m 3 -o /dev/null http://127.0.0.1:3001/healthz")
    assert code == 0

    for instance in (a, b):
        await platform.act(instance["id"], "destroy", purge=True)
    for instance in (a, b):
        await platform.wait_status(instance["id"], "destroyed")


async def test_supervisor_restarts_a_killed_agent(platform: DockerPlatform) -> None:
    user = uuid.uuid4()
    created = await platform.create(user)
    view = await platform.wait_status(created["id"], "running")
    box = platform.container(user)
    assert box is not None
    await eventually(lambda: health(platform, user) == "healthy", what="healthy before the kill")

    code, before = exec_in(box, "pgrep -f -- '-m agent'")
    assert code == 0
    exec_in(box, "pkill -KILL -f -- '-m agent'")

    def agent_pid() -> str | None:
        code, after = exec_in(box, "pgrep -f -- '-m agent'")
        return after.strip() if code == 0 and after.strip() != before.strip() else None

    await eventually(agent_pid, timeout=20, what="a new agent process")

    secret = agent_secret(platform, created["id"])
    await eventually(
        lambda: agent_answers(view["host"], secret), timeout=20, what="the agent answering"
    )
    logs = box.logs().decode()
    assert "program=agent event=exited code=137" in logs
    assert logs.count("program=agent event=started") == 2

    def passed_after_restart() -> bool:
        box.reload()
        entries = box.attrs["State"]["Health"]["Log"]
        return box.attrs["State"]["Health"]["Status"] == "healthy" and any(
            e["ExitCode"] == 0 and e["Start"] > _restart_time(logs) for e in entries
        )

    await eventually(passed_after_restart, timeout=30, what="a passing health check after it")
    await platform.act(created["id"], "destroy", purge=True)
    await platform.wait_status(created["id"], "destroyed")


def _restart_time(logs: str) -> str:
    """When the supervisor started the agent the second time (its log's ISO timestamp)."""
    starts = [
        line.split()[0] for line in logs.splitlines() if "program=agent event=started" in line
    ]
    return starts[-1]
