"""``make run``'s launcher: embedded NATS + SQLite, prints the URL and key, Ctrl-C stops all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from devstack import SERVICES
from tests.launcher import Launch, launching
from tests.support import eventually

from .support import wait_for_status


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    with launching(tmp_path) as start:
        yield start


async def test_the_launcher_runs_the_platform_and_stops_it_cleanly(launch: Launch) -> None:
    launcher = launch()
    key = await launcher.banner()
    assert "DEMO MODE" in launcher.output
    started = [s for s in SERVICES if s.runs({"PROVIDER": "fake"})]
    databases = sorted(p.name for p in (launcher.folder / "data").glob("*.db"))
    assert databases == sorted(f"{service.name}.db" for service in started)
    children = launcher.descendants()
    assert len(children) >= 1 + len(started)  # nats and every service make run starts

    async with launcher.api(key) as api:
        created = await api.post("/instances", json={"user_id": str(uuid4())})
        assert created.status_code == 202
        await wait_for_status(api, created.json()["id"], "running")

    launcher.interrupt()  # Ctrl-C
    await eventually(
        lambda: launcher.child.returncode is not None, timeout=30, what="the launcher exiting"
    )
    assert launcher.child.returncode == 0
    assert not [c for c in children if c.is_running() and c.status() != "zombie"]
