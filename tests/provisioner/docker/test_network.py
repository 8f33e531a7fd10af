"""The instance network on a real engine: made once, however many creates race for it."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import docker

from provisioner.providers.docker import DockerOptions, DockerProvider


def options(network: str) -> DockerOptions:
    return DockerOptions(
        url=None,
        image="unused",
        network=network,
        deployment=f"test-{network}",
        memory="256m",
        cpus=0.5,
        pids=64,
        cap_add=(),
        user="claude",
        agent_port=3001,
        publish_host="127.0.0.1",
        ready_timeout=5,
        stop_timeout=1,
        api_timeout=10,
    )


def test_racing_first_creates_make_one_network(engine: docker.DockerClient) -> None:
    network = f"claude-net-race-{uuid.uuid4().hex[:8]}"
    # Two provisioners (two providers) and two threads each, all making the network at once.
    providers = [DockerProvider(options(network)), DockerProvider(options(network))]
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda p: p.engine.ensure_network(), providers * 2))
        made = engine.networks.list(names=[network])
        assert len(made) == 1
        assert made[0].attrs["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    finally:
        for found in engine.networks.list(names=[network]):
            found.remove()
