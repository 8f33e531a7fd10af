"""The must-show cases on real containers: the platform's processes with the docker provider and
the stand-in ``claude`` image; the activity service in this process with a clock the test moves.
Each poll asks the real provisioner (``rpc.instance.activity``) and the instance's real agent.

Settings are short so a test reads in minutes of clock, not hours: interval 5 min, frozen when
idle for 30 min, stopped when frozen for 20 min, grace 10 min, max run without human input 2 h.
Docker keeps memory: idle freezes the container (``docker pause``) before it stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import nats
import pytest
import websockets
from docker.models.containers import Container
from faststream import TestApp

from activity.app import Activity, build, worker_app
from activity.clock import ManualClock
from activity.settings import ActivitySettings
from devstack import Stack, docker_isolation, local_config, remove_deployment
from devstack.signin import sign_in_from_log as sign_in
from tests.gateway.workspace.conftest import IMAGE, standin_engine
from tests.support import agent_secret_of, create_database, drop_database, eventually
from tests.ttyd import Terminal

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

__all__ = ["standin_engine"]  # the session's engine with the stand-in image, shared with proxy/

INTERVAL = 300.0
IDLE_STEPS = 6  # 30 min
STOP_STEPS = 4  # 20 min
MAX_STEPS = 24  # 2 h
SETTINGS: dict[str, Any] = {
    "interval_seconds": INTERVAL,
    "freeze_after_seconds": IDLE_STEPS * INTERVAL,
    "stop_after_seconds": STOP_STEPS * INTERVAL,
    "grace_seconds": 2 * INTERVAL,
    "max_lifetime_seconds": MAX_STEPS * INTERVAL,
    "agent_timeout_seconds": 2.0,
    "outbox_poll_seconds": 0.2,
}


@dataclass
class Live:
    stack: Stack
    base_url: str
    admin: httpx.AsyncClient
    activity: Activity
    clock: ManualClock
    token: str
    instance_id: str
    engine: docker.DockerClient
    settings: ActivitySettings
    replicas: list[Activity]

    @property
    def owner(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def step(self, times: int = 1) -> None:
        """Move the clock one interval ``times`` times, each time until every replica ticked."""
        for _ in range(times):
            done = [len(replica.poller.ticks) for replica in self.replicas]
            await self.clock.advance(INTERVAL)
            for replica, count in zip(self.replicas, done, strict=True):
                await asyncio.wait_for(replica.poller.wait_for_ticks(count + 1), 60)

    async def view(self) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as api:
            response = await api.get(f"/instances/{self.instance_id}/activity", headers=self.owner)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def instance(self) -> dict[str, Any]:
        found: dict[str, Any] = (await self.admin.get(f"/instances/{self.instance_id}")).json()
        return found

    async def running(self) -> tuple[Container, str, str]:
        """Wake it if an earlier test froze or stopped it; its container, agent address and
        secret."""

        async def settled() -> str | None:  # a pause an earlier test caused may be under way
            status = str((await self.instance())["status"])
            return status if status in ("running", "paused", "frozen") else None

        was_paused = await eventually(settled, timeout=60, what="a settled status") != "running"
        if was_paused:
            woken = await self.admin.post(f"/instances/{self.instance_id}/wake")
            assert woken.status_code == 202, woken.text
        view = await eventually(self._is_running, timeout=120, what="the instance running")

        async def followed() -> bool:
            seen = await self.view()
            fresh = not was_paused or seen["last_activity_reason"] == "started"
            return bool(seen["status"] == "running" and fresh)

        await eventually(followed, what="activity following the new run")
        container = self.engine.containers.get(f"claude-{view['user_id']}")
        return container, view["host"], agent_secret_of(self.stack, view["id"])

    async def _is_running(self) -> dict[str, Any] | None:
        view = await self.instance()
        return view if view["status"] == "running" else None

    async def frozen_for(self, reason: str) -> dict[str, Any]:
        """Wait until it is frozen, and activity with it; its view, the freeze's ``reason``
        checked."""
        return await self._ended("frozen", "freeze", reason)

    async def stopped_for(self, reason: str) -> dict[str, Any]:
        """Wait until it is stopped (paused), and activity with it; the stop's ``reason``
        checked."""
        return await self._ended("paused", "stop", reason)

    async def _ended(self, status: str, decision: str, reason: str) -> dict[str, Any]:
        async def reached() -> bool:
            return bool((await self.instance())["status"] == status)

        await eventually(reached, timeout=60, what=f"the instance {status}")

        async def known() -> dict[str, Any] | None:
            seen = await self.view()
            return seen if seen["status"] == status else None

        view: dict[str, Any] = await eventually(known, what=f"activity seeing it {status}")
        sent = next(d for d in view["decisions"] if d["decision"] == decision)
        assert sent["reason"] == reason, view["decisions"]
        return view


@pytest.fixture(scope="module")
async def live(
    standin_engine: docker.DockerClient,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Live]:
    deployment, network, isolation = docker_isolation("act", IMAGE)
    tmp = tmp_path_factory.mktemp("activity-stack")
    env = {
        **isolation,
        "PROVISIONER_DOCKER_MEMORY": "1g",
        "PROVISIONER_DOCKER_STOP_TIMEOUT_SECONDS": "3",
        "PROVISIONER_BUS_ACK_WAIT_SECONDS": "90",
        "OUTBOX_POLL_SECONDS": "0.2",
        "GATEWAY_RATE_LIMIT_API": "100000/minute",
        "LOG_LEVEL": "INFO",
    }
    # The platform without its own activity service: this test's, with its clock, takes its place.
    config = local_config(tmp, provider="docker", env=env, replicas={"activity": 0})
    stack = Stack(config)
    await asyncio.to_thread(stack.start)
    base_url = f"http://127.0.0.1:{config.port}"
    admin = httpx.AsyncClient(
        base_url=base_url, headers={"X-API-Key": config.admin_api_key}, timeout=60
    )
    clock = ManualClock()
    database_url = await create_database("cc_activity_live")
    settings = ActivitySettings(
        data_dir=tmp / "activity",
        database_url=database_url,
        nats_url=config.resolved_nats_url,
        **SETTINGS,
    )
    activity = build(settings, clock)
    try:
        async with TestApp(worker_app(activity)):
            token = await sign_in(base_url, tmp / "logs" / "gateway.log", "act@example.com")
            created = await admin.post(
                "/instances", json={"user_id": await _user_id(base_url, token)}
            )
            assert created.status_code == 202, created.text
            yield Live(
                stack,
                base_url,
                admin,
                activity,
                clock,
                token,
                created.json()["id"],
                standin_engine,
                settings,
                [activity],
            )
    finally:
        await admin.aclose()
        stack.stop_all()
        remove_deployment(standin_engine, deployment, network)
        await drop_database(database_url)
        if request.session.testsfailed:
            for path in sorted((tmp / "logs").glob("*.log")):
                print(f"----- {path} -----\n{path.read_text()[-6000:]}")


async def _user_id(base_url: str, token: str) -> str:
    async with httpx.AsyncClient(base_url=base_url) as api:
        me = await api.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    user_id: str = me.json()["user_id"]
    return user_id


@contextlib.asynccontextmanager
async def chat(host: str, secret: str) -> AsyncIterator[websockets.ClientConnection]:
    async with websockets.connect(
        f"ws://{host}/chat", additional_headers={"Authorization": f"Bearer {secret}"}
    ) as connection:
        yield connection


async def test_a_running_chat_turn_keeps_it_awake_and_its_end_lets_it_pause(live: Live) -> None:
    container, host, secret = await live.running()
    container.exec_run(
        [
            "bash",
            "-c",
            "mkdir -p ~/.claude && echo '{\"claudeAiOauth\": {}}' > ~/.claude/.credentials.json",
        ],
        user="claude",
    )
    async with chat(host, secret) as connection:
        await connection.send(json.dumps({"type": "prompt", "text": "be slow"}))
        await live.step(IDLE_STEPS + 2)  # past the idle threshold, the turn still running
        view = await live.view()
        assert view["status"] == "running"
        assert view["last_activity_reason"] == "chat_turn_running"
        await connection.send(json.dumps({"type": "interrupt"}))
    # the turn ended: the grace period, then the freeze setting, and it is frozen
    await live.step(IDLE_STEPS + 4)
    view = await live.frozen_for("idle")
    assert view["status"] == "frozen"


async def test_an_attached_silent_terminal_does_not_keep_it_awake(live: Live) -> None:
    _container, host, secret = await live.running()
    terminal = await Terminal.open(
        f"ws://{host}/terminal", headers={"Authorization": f"Bearer {secret}"}
    )
    try:
        await live.step(IDLE_STEPS + 1)
        view = await live.frozen_for("idle")
        freeze = next(d for d in view["decisions"] if d["decision"] == "freeze")
        assert "open without input" in freeze["detail"]
    finally:
        with contextlib.suppress(Exception):
            await terminal.connection.close()


async def test_typing_keeps_it_awake(live: Live) -> None:
    _container, host, secret = await live.running()
    terminal = await Terminal.open(
        f"ws://{host}/terminal", headers={"Authorization": f"Bearer {secret}"}
    )
    try:
        for _ in range(IDLE_STEPS + 2):
            await terminal.send_keys("x")
            await live.step()
        view = await live.view()
        assert view["status"] == "running"
        assert view["last_activity_reason"] == "terminal_input"
    finally:
        await terminal.send_keys("\x15")  # clear the line
        with contextlib.suppress(Exception):
            await terminal.connection.close()


async def test_the_max_lifetime_stops_a_long_agent_run_and_the_owner_reads_why(live: Live) -> None:
    _container, host, secret = await live.running()
    async with chat(host, secret) as connection:
        await connection.send(json.dumps({"type": "prompt", "text": "be slow"}))
        await live.step(MAX_STEPS + 2)  # two hours and more, Claude working, no one typing
        view = await live.frozen_for("max_lifetime")
    freeze = next(d for d in view["decisions"] if d["decision"] == "freeze")
    assert "no human input for 2 h" in freeze["detail"]


async def test_a_killed_agent_is_named_after_three_polls_and_cleared_when_it_returns(
    live: Live,
) -> None:
    container, _host, _secret = await live.running()
    # Kill the agent for good: first the supervisor's loop that would restart it, then it.
    # (The pattern is split so that this script's own command line does not match it.)
    stop = (
        'pat="-m ag""ent"; for p in /proc/[0-9]*; do c=$(tr "\\0" " " < $p/cmdline 2>/dev/null); '
        '[ "${p#/proc/}" = "$$" ] && continue; '
        'case "$c" in *"$pat"*) kill -STOP "$(cut -d" " -f4 $p/stat)"; kill -9 "${p#/proc/}";; '
        "esac; done; true"
    )
    code, out = container.exec_run(["bash", "-c", stop], user="claude")
    assert code == 0, out
    await live.step(2)
    view = await live.view()
    assert view["condition"] is None
    await live.step()
    view = await live.view()
    assert view["condition"] == "agent_unreachable"
    # Back: let the supervisor go on; it starts the agent again.
    resume = (
        "for p in /proc/[0-9]*; do s=$(awk '{print $3}' $p/stat 2>/dev/null); "
        '[ "$s" = T ] && kill -CONT ${p#/proc/}; done; true'
    )
    container.exec_run(["bash", "-c", resume], user="claude")

    async def cleared() -> bool:
        await live.step()
        return (await live.view())["condition"] is None

    await eventually(cleared, timeout=60, interval=1.0, what="the condition cleared")


# Attaches to the tmux session as ``connect.sh`` does (``docker exec ... tmux attach``), types a
# space every half second for 25 s, then leaves.
TMUX_TYPIST = """
import os, pty, select, time
pid, fd = pty.fork()
if pid == 0:
    os.execvp("tmux", ["tmux", "attach", "-t", "claude"])
end, due = time.time() + 25, time.time() + 1
while time.time() < end:
    if select.select([fd], [], [], 0.1)[0]:
        try:
            os.read(fd, 65536)
        except OSError:
            break
    if time.time() >= due:
        os.write(fd, b" ")
        due += 0.5
os.kill(pid, 9)
"""


async def test_typing_through_a_plain_tmux_attach_keeps_it_awake(live: Live) -> None:
    container, host, secret = await live.running()
    container.exec_run(
        ["/opt/claudecloud/agent/bin/python", "-c", TMUX_TYPIST],
        user="claude",
        detach=True,
        environment={"TERM": "xterm-256color"},
    )

    async def typed() -> bool:
        async with httpx.AsyncClient(timeout=5) as client:
            report = await client.get(
                f"http://{host}/activity", headers={"Authorization": f"Bearer {secret}"}
            )
        return report.json().get("tmux_input_at") is not None

    await eventually(typed, what="the agent seeing keys from the tmux client")
    await live.step(IDLE_STEPS + 2)
    view = await live.view()
    assert view["status"] == "running"
    assert view["last_activity_reason"] == "terminal_input"

    async def left() -> bool:
        async with httpx.AsyncClient(timeout=5) as client:
            report = await client.get(
                f"http://{host}/activity", headers={"Authorization": f"Bearer {secret}"}
            )
        return int(report.json()["tmux_clients"]) == 0

    await eventually(left, timeout=60, interval=0.5, what="the tmux client gone")


async def test_two_replicas_freeze_once_and_send_one_sample_per_interval(live: Live) -> None:
    _container, host, secret = await live.running()
    second = build(live.settings, live.clock)  # a second activity service on the same database
    seen: dict[str, list[dict[str, Any]]] = {"usage": [], "pause": []}
    bus = await nats.connect(live.settings.nats_url)

    async def on_usage(msg: Any) -> None:
        seen["usage"].append(json.loads(msg.data))

    async def on_pause(msg: Any) -> None:
        seen["pause"].append(json.loads(msg.data))

    # Core subscriptions see every publish, repeats included (JetStream would drop those).
    await bus.subscribe("evt.activity.usage", cb=on_usage)
    await bus.subscribe("cmd.instance.pause", cb=on_pause)
    try:
        async with TestApp(worker_app(second)):
            live.replicas.append(second)
            terminal = await Terminal.open(
                f"ws://{host}/terminal", headers={"Authorization": f"Bearer {secret}"}
            )
            try:
                for _ in range(3):
                    await terminal.send_keys("y")
                    await eventually(functools.partial(_typed_seen, host, secret))
                    await live.step()
            finally:
                await terminal.send_keys("\x15")
                with contextlib.suppress(Exception):
                    await terminal.connection.close()
            await live.step(IDLE_STEPS + 1)
            await live.frozen_for("idle")
            live.replicas.remove(second)
        mine = [
            s
            for s in seen["usage"]
            if s["instance_id"] == live.instance_id and s["kind"] == "running"
        ]
        assert 3 <= len(mine) <= 4, mine  # the typed intervals (one may spill into the next)
        assert len({s["sample_id"] for s in mine}) == len(mine)  # each interval sent once
        pauses = [c for c in seen["pause"] if c["instance_id"] == live.instance_id]
        assert len(pauses) == 1, pauses
        polled = [sum(t.polled for t in r.poller.ticks) for r in (live.activity, second)]
        assert sum(polled) > 0
    finally:
        await bus.close()


_last_inputs: dict[str, int] = {}


async def _typed_seen(host: str, secret: str) -> bool:
    """The agent has counted the key just sent (so the next poll sees it)."""
    async with httpx.AsyncClient(timeout=5) as client:
        report = await client.get(
            f"http://{host}/activity", headers={"Authorization": f"Bearer {secret}"}
        )
    inputs = int(report.json()["inputs"])
    if inputs > _last_inputs.get(secret, 0):
        _last_inputs[secret] = inputs
        return True
    return False


async def test_frozen_for_idleness_it_raises_no_condition_and_is_stopped_later(
    live: Live,
) -> None:
    container, _host, _secret = await live.running()
    await live.step(IDLE_STEPS + 1)
    view = await live.frozen_for("idle")
    container.reload()
    assert container.attrs["State"]["Paused"] is True  # the cgroup freezer: every process kept
    assert view["stops_at"] is not None

    await live.step(STOP_STEPS - 1)  # polled while frozen: its agent cannot answer
    view = await live.view()
    assert view["status"] == "frozen"
    assert view["condition"] is None
    assert view["failed_polls"] == 0
    assert not [d for d in view["decisions"] if d["decision"] == "unhealthy"]
    assert (await live.instance())["condition"] is None

    await live.step()  # frozen for the stop setting
    view = await live.stopped_for("idle")
    stop = next(d for d in view["decisions"] if d["decision"] == "stop")
    assert "frozen since" in stop["detail"]
    container.reload()
    assert container.status == "exited"


async def test_a_chat_turns_cost_shows_in_the_usage_series_and_the_cli(
    live: Live, tmp_path: Path
) -> None:
    container, host, secret = await live.running()
    container.exec_run(
        [
            "bash",
            "-c",
            "mkdir -p ~/.claude && echo '{\"claudeAiOauth\": {}}' > ~/.claude/.credentials.json",
        ],
        user="claude",
    )
    async with chat(host, secret) as connection:
        await connection.send(json.dumps({"type": "prompt", "text": "what does this cost"}))
        while (event := json.loads(await asyncio.wait_for(connection.recv(), 30)))["type"] not in (
            "done",
            "error",
        ):
            pass
    assert event["type"] == "done", event
    assert event["total_cost_usd"] > 0  # the stand-in reports a cost, as the CLI does
    async with httpx.AsyncClient(timeout=30) as agent:
        report = await agent.get(
            f"http://{host}/activity", headers={"Authorization": f"Bearer {secret}"}
        )
    spent = report.json()["claude_spend"]
    today = max(d["day"] for d in spent)
    total = sum(d["cost_usd"] for d in spent if d["day"] == today)
    assert total >= event["total_cost_usd"]

    await live.step()  # the poll that forwards it

    async def billed() -> dict[str, Any] | None:
        async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as api:
            response = await api.get("/billing/usage", headers=live.owner)
        assert response.status_code == 200, response.text
        series: dict[str, Any] = response.json()
        day = next((d for d in series["days"] if d["day"] == today), None)
        return series if day and day["claude_usd"] == pytest.approx(total) else None

    series = await eventually(billed, what="Claude's spend in GET /billing/usage")
    assert series["claude_billed_by"] == "anthropic"

    home = tmp_path / "cli"
    (home / ".claude-cloud").mkdir(parents=True, mode=0o700)
    (home / ".claude-cloud" / "token").write_text(live.token)
    cli = Path(sys.executable).parent / "claude-cloud"
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "CLAUDE_CLOUD_API": live.base_url}
    done = await asyncio.to_thread(
        subprocess.run, [str(cli), "usage"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith(today))
    shown = f"${total:,.4f}" if total < 0.01 else f"${total:,.2f}"  # a turn costs under a cent
    assert row.rstrip().endswith(shown)
    assert "billed by Anthropic to your own key" in done.stdout
