"""The warm pool on a real engine: creates claim started containers and make them their users'
(name, size, secret, an empty volume); more creates than slots fall back to making machines anew;
a provisioner killed between the claim and the record finishes the job once; a new image
replaces the pool."""

from __future__ import annotations

import asyncio
import io
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from claudecloud_admin.main import app
from docker.models.containers import Container
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from tests.support import agent_secret_of

from .conftest import IMAGE, DockerPlatform, eventually, exec_in
from .engine_proxy import EngineProxy

MIB = 1024 * 1024
PLAN = {"cpus": 0.5, "memory_mb": 768}
"""The plan the tests' users pay for: not the pool's own size, so a claim must resize."""


@pytest.fixture
def pooled(platform: DockerPlatform) -> Iterator[DockerPlatform]:
    """The platform with a warm pool of two and billing on (the plan sizes the machine)."""
    platform.restart_provisioner(
        PROVISIONER_WARM_POOL_SIZE="2",
        PROVISIONER_WARM_POOL_SECONDS="1",
        PROVISIONER_BILLING_ENABLED="true",
    )
    yield platform
    platform.restart_provisioner()


def provisioner_db(platform: DockerPlatform) -> Path:
    return platform.stack.config.data_dir / "provisioner.db"


def sql(platform: DockerPlatform, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(provisioner_db(platform)) as db:
        return db.execute(query, args).fetchall()


def entitle(platform: DockerPlatform, user: uuid.UUID) -> None:
    """What billing's event would record: the user may create, on the plan's machine."""
    sql(
        platform,
        "INSERT INTO entitlements (user_id, subscription_id, plan, status, entitled, cpus,"
        " memory_mb, disk_gb, as_of, updated_at) VALUES (?, 'sub_test', 'test', 'active', 1,"
        " ?, ?, 10, '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00')",
        user.hex,
        PLAN["cpus"],
        PLAN["memory_mb"],
    )


def pool_containers(platform: DockerPlatform) -> list[Container]:
    found: list[Container] = platform.engine.containers.list(
        all=True, filters={"label": [f"io.claudecloud.deployment={platform.deployment}"]}
    )
    return [c for c in found if c.name.startswith("claude-pool-")]


async def ready_slots(platform: DockerPlatform) -> float:
    port = platform.stack.spec("provisioner").http_port
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    for family in text_string_to_metric_families(text):
        if family.name == "claudecloud_pool_slots":
            return sum(s.value for s in family.samples if s.labels.get("state") == "ready")
    return 0.0


async def pool_is_full(platform: DockerPlatform, size: int = 2) -> None:
    await eventually(
        lambda: _full(platform, size), timeout=120, interval=0.2, what=f"{size} ready slots"
    )


async def _full(platform: DockerPlatform, size: int) -> bool:
    ready = sql(platform, "SELECT count(*) FROM pool_slots WHERE state = 'ready'")[0][0]
    return bool(ready == size and await ready_slots(platform) == size)


async def create_and_time(platform: DockerPlatform, user: uuid.UUID) -> tuple[str, float]:
    """Create, then follow the instance's event stream to ``running``: the seconds from the
    request to the client seeing it run."""
    started = time.perf_counter()
    instance = (await platform.create(user))["id"]
    async with platform.api.stream("GET", f"/instances/{instance}/events") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("data:") and '"status":"running"' in line.replace(" ", ""):
                return instance, time.perf_counter() - started
    raise AssertionError("the event stream ended before running")


async def test_creates_claim_started_slots_and_make_them_their_users(
    pooled: DockerPlatform,
) -> None:
    await pool_is_full(pooled)
    slots = {c.id: c for c in pool_containers(pooled)}
    normal = uuid.uuid4()  # for comparison: what a new machine's volume holds
    users = [uuid.uuid4(), uuid.uuid4()]
    for user in (*users, normal):
        entitle(pooled, user)

    for user in users:
        instance, seconds = await create_and_time(pooled, user)
        print(f"create -> running on the event stream, from the pool: {seconds * 1000:.0f} ms")
        box = pooled.container(user)
        assert box is not None
        assert box.id in slots  # the very container the pool had started
        assert box.name == f"claude-{user}"
        host = box.attrs["HostConfig"]
        assert host["CpuQuota"] / host["CpuPeriod"] == PLAN["cpus"]
        assert host["Memory"] == PLAN["memory_mb"] * MIB
        [(pool_secret,)] = sql(
            pooled, "SELECT secret FROM pool_slots WHERE instance_id = ?", uuid.UUID(instance).hex
        )
        view = await pooled.wait_status(instance, "running")
        async with httpx.AsyncClient(timeout=5) as http:
            old = await http.get(
                f"http://{view['host']}/healthz", headers={"Authorization": f"Bearer {pool_secret}"}
            )
            new = await http.get(
                f"http://{view['host']}/healthz",
                headers={"Authorization": f"Bearer {agent_secret_of(pooled.stack, instance)}"},
            )
        assert (old.status_code, new.status_code) == (401, 200)
        assert str(user) not in str(box.attrs["Config"]["Env"])

    made = await pooled.create(normal)  # the pool is refilling: made anew, or a fresh slot
    await pooled.wait_status(made["id"], "running")
    # The claimed volume holds what the image and its own programs make at start (Claude
    # Code's state, which a new machine's gets a moment later too), nothing of anyone's.
    started_by_the_image = {".claude", ".claude.json", ".claudecloud"}
    claimed_files = set(_listing(pooled.container(users[0])))
    assert claimed_files - set(_listing(pooled.container(normal))) <= started_by_the_image
    await pool_is_full(pooled)  # refilled behind the creates


def _listing(box: Container | None) -> list[str]:
    assert box is not None
    code, text = exec_in(box, "ls -A /claude-data")
    assert code == 0, text
    return text.split()


async def test_ten_creates_at_once_with_two_slots_claim_two_and_make_eight(
    pooled: DockerPlatform,
) -> None:
    await pool_is_full(pooled)
    users = [uuid.uuid4() for _ in range(10)]
    for user in users:
        entitle(pooled, user)

    created = await asyncio.gather(*(pooled.create(user) for user in users))
    await asyncio.gather(*(pooled.wait_status(c["id"], "running", 120) for c in created))

    boxes = [pooled.container(user) for user in users]
    claimed = [b for b in boxes if b is not None and "io.claudecloud.pool-slot" in b.labels]
    assert len(claimed) == 2
    for user in users:  # one container each: none doubled
        mine = pooled.engine.containers.list(all=True, filters={"name": f"claude-{user}"})
        assert len(mine) == 1
    ours = {uuid.UUID(c["id"]).hex for c in created}
    claims = sql(pooled, "SELECT instance_id FROM pool_slots WHERE state = 'claimed'")
    assert len([row for row in claims if row[0] in ours]) == 2  # each slot claimed once


@pytest.fixture
async def cut(pooled: DockerPlatform, tmp_path: Path) -> AsyncIterator[EngineProxy]:
    proxy = EngineProxy(tmp_path / "engine.sock")
    proxy.start()
    await pool_is_full(pooled)
    pooled.restart_provisioner(
        PROVISIONER_WARM_POOL_SIZE="2",
        PROVISIONER_BILLING_ENABLED="true",
        PROVISIONER_DOCKER_URL=proxy.url,
    )
    await pool_is_full(pooled)  # as this provisioner knows it
    yield proxy
    proxy.restore()
    proxy.stop()


async def test_a_provisioner_killed_between_claim_and_record_finishes_once(
    pooled: DockerPlatform, cut: EngineProxy
) -> None:
    user = uuid.uuid4()
    entitle(pooled, user)
    cut.cut_after(b"/rename", outage=None)  # the container is the user's, then the engine is gone
    created = await pooled.create(user)
    await eventually(lambda: cut.cuts == 1, timeout=60, what="the claim's rename")
    pooled.stack.kill("provisioner")  # SIGKILL: claimed and renamed, nothing recorded since
    cut.restore()
    pooled.restart_provisioner(PROVISIONER_WARM_POOL_SIZE="2", PROVISIONER_BILLING_ENABLED="true")

    await pooled.wait_status(created["id"], "running", timeout=120)
    mine = pooled.engine.containers.list(all=True, filters={"name": f"claude-{user}"})
    assert len(mine) == 1
    claimed = sql(
        pooled,
        "SELECT id FROM pool_slots WHERE instance_id = ?",
        uuid.UUID(created["id"]).hex,
    )
    assert len(claimed) == 1
    argv = ["--nats", pooled.stack.config.resolved_nats_url, "check"]
    check = await asyncio.to_thread(CliRunner().invoke, app, argv)
    assert check.exit_code == 0, check.output


async def test_a_slot_left_starting_by_a_stopped_provisioner_does_not_hold_the_pool_back(
    pooled: DockerPlatform,
) -> None:
    """A provisioner stopped (or killed) while it started a slot leaves its row ``starting``;
    the next one removes it at once and fills the pool, rather than counting it as on its way
    for the five minutes after which a start is taken as lost."""
    await pool_is_full(pooled)
    pooled.stack.stop("provisioner")
    # As a provisioner killed between the container's start and its record leaves one
    [(left,)] = sql(pooled, "SELECT id FROM pool_slots WHERE state = 'ready' LIMIT 1")
    sql(
        pooled,
        "UPDATE pool_slots SET state = 'starting', ready_at = NULL, created_at = ? WHERE id = ?",
        datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        left,
    )
    pooled.restart_provisioner(
        PROVISIONER_WARM_POOL_SIZE="2",
        PROVISIONER_WARM_POOL_SECONDS="1",
        PROVISIONER_BILLING_ENABLED="true",
    )
    await pool_is_full(pooled)
    assert not sql(pooled, "SELECT id FROM pool_slots WHERE id = ?", left)
    slots = {c.labels["io.claudecloud.pool-slot"] for c in pool_containers(pooled)}
    assert str(uuid.UUID(left)) not in slots  # its container removed too


async def test_a_new_image_replaces_the_pool(pooled: DockerPlatform) -> None:
    await pool_is_full(pooled)
    before = {c.id for c in pool_containers(pooled)}
    tag = f"claudecloud/instance:pool-{uuid.uuid4().hex[:8]}"
    dockerfile = f"FROM {IMAGE}\nLABEL io.claudecloud.test-build={tag}\n".encode()
    newer, _ = pooled.engine.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True)
    try:
        pooled.restart_provisioner(
            PROVISIONER_WARM_POOL_SIZE="2",
            PROVISIONER_WARM_POOL_SECONDS="1",
            PROVISIONER_DOCKER_IMAGE=tag,
        )
        await eventually(
            lambda: {c.image.id for c in pool_containers(pooled)} == {newer.id},
            timeout=120,
            what="the pool made of the new image only",
        )
        await pool_is_full(pooled)
        assert before.isdisjoint({c.id for c in pool_containers(pooled)})  # all replaced
        ready = sql(pooled, "SELECT image FROM pool_slots WHERE state = 'ready'")
        assert {row[0] for row in ready} == {newer.id}  # no claim can take an old one
    finally:
        pooled.restart_provisioner()
        for box in pool_containers(pooled):
            if box.image.id == newer.id:
                box.remove(force=True)
        pooled.engine.images.remove(tag, force=True)
