"""What goes wrong on Docker ends in a state a user can act on: the engine going away in the
middle of a create, an image that does not exist, a foreign container with our name. (Machines
changed behind the platform's back, on every provider: ``tests/provisioner/lifecycle``.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import IMAGE, DockerPlatform, eventually
from .engine_proxy import EngineProxy

# Retries spaced so an outage of a second or two is ridden out and a longer one ends in failed.
RETRIES = {"BUS_BACKOFF_SECONDS": "[0.5, 1.0, 2.0, 3.0]", "BUS_MAX_DELIVER": "5"}


@pytest.fixture
def proxy(platform: DockerPlatform, tmp_path: Path) -> Iterator[EngineProxy]:
    """The provisioner talks to the engine through a proxy the test can cut."""
    proxy = EngineProxy(tmp_path / "engine.sock")
    proxy.start()
    platform.restart_provisioner(PROVISIONER_DOCKER_URL=proxy.url, **RETRIES)
    yield proxy
    proxy.restore()
    platform.restart_provisioner()
    proxy.stop()


def ours(platform: DockerPlatform, user_id: uuid.UUID) -> list[Any]:
    found: list[Any] = platform.engine.containers.list(
        all=True, ignore_removed=True, filters={"label": [f"io.claudecloud.user-id={user_id}"]}
    )
    return found


async def test_engine_lost_mid_create_is_ridden_out(
    platform: DockerPlatform, proxy: EngineProxy
) -> None:
    proxy.cut_after(b"/containers/create", outage=1.5)
    user = uuid.uuid4()
    created = await platform.create(user)
    view = await platform.wait_status(created["id"], "running", timeout=90)
    assert proxy.cuts == 1  # the engine did go away after making the container
    containers = ours(platform, user)
    assert len(containers) == 1  # the retry found the container it made, and made no other
    assert containers[0].labels["io.claudecloud.instance-id"] == created["id"]
    assert view["host"]
    await platform.act(created["id"], "destroy", purge=True)
    await platform.wait_status(created["id"], "destroyed")


async def test_engine_gone_for_good_fails_and_leaves_nothing_behind(
    platform: DockerPlatform, proxy: EngineProxy
) -> None:
    proxy.cut_after(b"/containers/create", outage=None)
    user = uuid.uuid4()
    created = await platform.create(user)
    view = await platform.wait_status(created["id"], "failed", timeout=90)
    assert "Docker engine does not answer" in view["reason"]
    # The engine made the container before it went away; the row that owns it says failed...
    assert len(ours(platform, user)) == 1
    # ...and when the provisioner starts again with the engine back, the leftover is removed.
    proxy.restore()
    platform.restart_provisioner()
    await eventually(lambda: not ours(platform, user), what="the leftover container removed")
    assert platform.volume_exists(user)  # data is never removed behind the user's back


async def test_missing_image_fails_naming_it(platform: DockerPlatform) -> None:
    image = f"claudecloud/no-such-image:{uuid.uuid4().hex[:8]}"
    platform.restart_provisioner(PROVISIONER_DOCKER_IMAGE=image)
    try:
        user = uuid.uuid4()
        created = await platform.create(user)
        view = await platform.wait_status(created["id"], "failed", timeout=60)
        assert image in view["reason"]
        assert "make instance-image" in view["reason"]
        assert not ours(platform, user)
    finally:
        platform.restart_provisioner()


async def test_a_foreign_container_with_the_name_is_a_clear_conflict(
    platform: DockerPlatform,
) -> None:
    user = uuid.uuid4()
    foreign = platform.engine.containers.create(IMAGE, ["sleep", "600"], name=f"claude-{user}")
    try:
        created = await platform.create(user)
        view = await platform.wait_status(created["id"], "failed", timeout=60)
        assert "name conflict" in view["reason"]
        assert f"claude-{user}" in view["reason"]
        foreign.reload()  # left alone: it is not ours to remove
    finally:
        foreign.remove(force=True, v=True)
