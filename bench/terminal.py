"""Terminal benchmark: the gateway's WebSocket proxy against talking to the agent directly.

In one run, on a real container (the instance image with the stand-in ``claude``):

- keystroke echo round trip, p50/p99, through the gateway and straight to the agent (the
  difference is what the proxy adds; target: added p50 <= 2 ms);
- a 50 MB ``cat`` in the terminal, both ways (target: proxied >= 80% of direct throughput);
- 50 terminals through the gateway at once, with output at 40 KB/s each (target: none dropped:
  every one stays connected, keeps up, and sees the end).

``make bench-terminal`` (also part of ``make bench``).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx

from bench.common import percentile, summary, verdict
from claudecloud_agentapi.terminal import OUTPUT
from devstack import Stack, docker_isolation, local_config, remove_deployment
from devstack.engine import STANDIN_IMAGE as IMAGE
from devstack.engine import ensure_instance_image
from devstack.signin import sign_in_from_log as sign_in
from devstack.ttyd import Terminal
from devstack.waiting import eventually

KEYSTROKES = 300
CAT_BYTES = 50 * 1024 * 1024
TERMINALS = 50
RATE_BYTES = 40 * 1024
RATE_SECONDS = 8
LINE = 100


@dataclass
class Target:
    name: str
    url: str
    headers: dict[str, str]

    async def open(self) -> Terminal:
        terminal = await Terminal.open(
            self.url, columns=160, rows=40, headers=self.headers, ping_interval=None
        )
        await terminal.wait_for(lambda screen: "$" in screen, timeout=30)
        terminal.render = False  # the client must not be what limits the figures
        return terminal


async def output_until(terminal: Terminal, needle: bytes, timeout: float) -> None:
    """Read raw output until ``needle`` passes by."""
    deadline = time.monotonic() + timeout
    tail = b""
    while needle not in tail:
        frame = await terminal.read_frame(max(0.1, deadline - time.monotonic()))
        tail = (tail + frame[1:])[-4096:]


async def echo_round_trips(target: Target, count: int) -> list[float]:
    """Type one character at a time; the time until its echo comes back, in ms."""
    terminal = await target.open()
    times = []
    try:
        for i in range(count):
            key = chr(ord("a") + i % 26).encode()
            started = time.perf_counter()
            await terminal.connection.send(b"0" + key)
            while True:
                frame = await terminal.read_frame(10)
                if frame[:1] == OUTPUT and key in frame[1:]:
                    break
            times.append((time.perf_counter() - started) * 1000)
        await terminal.send_keys("\x15")  # Ctrl-U: clear the typed line
    finally:
        await terminal.close()
    return times


async def cat_seconds(target: Target) -> float:
    """Seconds from typing ``cat`` of the 50 MB file until its end marker is on the screen."""
    terminal = await target.open()
    try:
        marker = uuid.uuid4().hex[:8]
        started = time.perf_counter()
        await terminal.send_keys(f"cat /claude-data/big.txt; echo {marker}''DONE\r")
        await output_until(terminal, f"{marker}DONE".encode(), timeout=300)
        return time.perf_counter() - started
    finally:
        await terminal.close()


@dataclass
class Watched:
    received: int = 0
    closed_early: bool = False
    saw_end: bool = False


async def many_terminals(target: Target, count: int) -> tuple[list[Watched], float]:
    """``count`` terminals on the session while one of them prints 40 KB/s for a while."""
    terminals = await asyncio.gather(*(target.open() for _ in range(count)))
    marker = uuid.uuid4().hex[:8]
    watched = [Watched() for _ in terminals]
    stop = asyncio.Event()

    async def watch(terminal: Terminal, seen: Watched) -> None:
        start = terminal.received
        tail = b""
        while not stop.is_set():
            try:
                frame = await terminal.read_frame(1.0)
            except TimeoutError:
                continue
            except Exception:
                seen.closed_early = True
                return
            tail = (tail + frame[1:])[-256:]
            seen.received = terminal.received - start
            if f"{marker}END".encode() in tail:
                seen.saw_end = True
                return

    watchers = [asyncio.create_task(watch(t, w)) for t, w in zip(terminals, watched, strict=True)]
    lines = RATE_BYTES // LINE
    program = (
        "import sys,time\n"
        f"for s in range({RATE_SECONDS}):\n"
        f" t=time.time()\n for i in range({lines}):"
        f" sys.stdout.write(('%d-%d ' % (s,i)).ljust({LINE - 1},'x')+'\\n')\n"
        " sys.stdout.flush(); time.sleep(max(0,1-(time.time()-t)))\n"
        f"print('{marker}'+'END')\n"
    )
    path = f"/claude-data/rate-{marker}.py"
    await terminals[0].send_keys(f"cat > {path} <<'EOF'\n{program}EOF\n")
    started = time.perf_counter()
    await terminals[0].send_keys(f"python3 {path}\r")
    await asyncio.wait(watchers, timeout=RATE_SECONDS + 30)  # each ends at the end marker
    elapsed = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*watchers)
    await asyncio.gather(*(t.close() for t in terminals))
    return watched, elapsed


async def measure(gateway: Target, direct: Target) -> bool:
    print("\nkeystroke echo round trip (one key at a time, through tmux)")
    results: dict[str, list[float]] = {}
    for target in (direct, gateway, direct, gateway):  # interleaved so drift hits both
        results.setdefault(target.name, []).extend(await echo_round_trips(target, KEYSTROKES // 2))
    for name, values in results.items():
        print(f"  {name:8} {summary(values)}   p99 {percentile(values, 99):7.2f} ms")
    added = percentile(results["gateway"], 50) - percentile(results["direct"], 50)
    latency_ok = added <= 2.0
    print(f"  added by the gateway: p50 {added:+.2f} ms   ({verdict(latency_ok)}: <= 2 ms)")

    print(f"\n{CAT_BYTES // 1024 // 1024} MB cat in the terminal (until its end is on the screen)")
    seconds: dict[str, list[float]] = {}
    for target in (direct, gateway, direct, gateway):
        seconds.setdefault(target.name, []).append(await cat_seconds(target))
    rate = {n: CAT_BYTES / statistics.fmean(s) / 1e6 for n, s in seconds.items()}
    for name, values in seconds.items():
        print(f"  {name:8} {statistics.fmean(values):6.2f} s   {rate[name]:7.1f} MB/s")
    ratio = rate["gateway"] / rate["direct"]
    throughput_ok = ratio >= 0.8
    print(f"  proxied / direct: {ratio:.0%}   ({verdict(throughput_ok)}: >= 80%)")

    print(
        f"\n{TERMINALS} terminals through the gateway on the session, a program writing"
        f" {RATE_BYTES // 1024} KB/s (each client gets tmux's screen updates of it)"
    )
    watched, elapsed = await many_terminals(gateway, TERMINALS)
    rates = sorted(w.received / elapsed / 1024 for w in watched)
    dropped = sum(1 for w in watched if w.closed_early or not w.saw_end)
    print(
        f"  per terminal: min {rates[0]:.1f} KB/s   median {statistics.median(rates):.1f} KB/s"
        f"   over {elapsed:.1f} s;  closed early {sum(w.closed_early for w in watched)},"
        f" missed the end {sum(not w.saw_end for w in watched)}"
    )
    many_ok = dropped == 0
    print(f"  dropped: {dropped}   ({verdict(many_ok)}: none)")
    return latency_ok and throughput_ok and many_ok


async def run(tmp: Path, engine: docker.DockerClient) -> bool:
    deployment, network, isolation = docker_isolation("bench", IMAGE)
    env = {**isolation, "GATEWAY_RATE_LIMIT_API": "100000/minute", "LOG_LEVEL": "INFO"}
    config = local_config(tmp, provider="docker", env=env)
    stack = Stack(config)
    await asyncio.to_thread(stack.start)
    base = f"http://127.0.0.1:{config.port}"
    try:
        token = await sign_in(base, tmp / "logs" / "gateway.log", f"{deployment}@example.com")
        bearer = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=bearer, timeout=60) as api:
            instance_id = (await api.post("/instances")).json()["id"]

            async def running() -> dict[str, str] | None:
                view: dict[str, str] = (await api.get(f"/instances/{instance_id}")).json()
                return view if view["status"] == "running" else None

            view = await eventually(running, timeout=120, what="the instance running")
        container = engine.containers.get(f"claude-{view['user_id']}")
        env = dict(e.split("=", 1) for e in container.attrs["Config"]["Env"])
        # The shell alone in the window (the Claude pane, the stand-in, would take the keys).
        shell_only = "/opt/claudecloud/bin/tmux-session.sh ensure && tmux kill-pane -t claude:0.0"
        container.exec_run(
            [
                "bash",
                "-c",
                f"base64 -w 159 /dev/urandom | head -c {CAT_BYTES} > big.txt; {shell_only}",
            ],
            user="claude",
            workdir="/claude-data",
        )
        gateway = Target(
            "gateway", f"ws://127.0.0.1:{config.port}/instances/{instance_id}/terminal", bearer
        )
        direct = Target(
            "direct",
            f"ws://{view['host']}/terminal",
            {"Authorization": f"Bearer {env['AGENT_SECRET']}"},
        )
        return await measure(gateway, direct)
    finally:
        stack.stop_all()
        remove_deployment(engine, deployment, network)


def main() -> None:
    os.environ["CLAUDE_CODE"] = "standin"
    ensure_instance_image(IMAGE)
    engine = docker.from_env(version="1.41", timeout=120)
    with tempfile.TemporaryDirectory(prefix="bench-terminal-") as tmp:
        ok = asyncio.run(run(Path(tmp), engine))
    engine.close()
    print("\nall targets met" if ok else "\nsome targets missed")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
