"""``make run``'s launcher: embedded NATS + SQLite, prints the URL and key, Ctrl-C stops all."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from uuid import uuid4

import httpx
import psutil

from tests.support import eventually, free_port

from .support import wait_for_status


async def test_the_launcher_runs_the_platform_and_stops_it_cleanly(tmp_path: Path) -> None:
    port, nats_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "NATS_URL", "ADMIN_API_KEY")
    }
    env |= {
        "DATA_DIR": str(tmp_path / "data"),
        "PORT": str(port),
        "NATS_PORT": str(nats_port),
        "PROVIDER": "fake",
        "PROVISIONER_HTTP_PORT": str(free_port()),
    }
    stderr = tmp_path / "launcher.log"
    with stderr.open("wb") as log:
        launcher = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "devstack", env=env, stderr=log, stdout=log
        )
    try:
        banner = await eventually(lambda: _banner(stderr), timeout=60, what="the start banner")
        key = banner.group(2)
        assert banner.group(1) == f"http://localhost:{port}"
        assert "DEMO MODE" in stderr.read_text()
        assert sorted(p.name for p in (tmp_path / "data").glob("*.db")) == [
            "gateway.db",
            "provisioner.db",
        ]
        children = psutil.Process(launcher.pid).children(recursive=True)
        assert len(children) >= 3  # nats, provisioner, gateway

        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}
        ) as api:
            created = await api.post("/instances", json={"user_id": str(uuid4())})
            assert created.status_code == 202
            await wait_for_status(api, created.json()["id"], "running")

        launcher.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(launcher.wait(), 30) == 0
        assert not [c for c in children if c.is_running() and c.status() != "zombie"]
    finally:
        if launcher.returncode is None:
            launcher.kill()


def _banner(path: Path) -> re.Match[str] | None:
    return re.search(r"ClaudeCloud is up:\s+(\S+).*?Admin API key:\s+(\S+)", path.read_text(), re.S)
