"""The Docker engine as ``make run`` and the tests see it: does one answer, is the image built."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[4]
BUILD_SCRIPT = ROOT / "docker" / "instance" / "build.sh"
DEFAULT_IMAGE = os.environ.get("CLAUDECLOUD_INSTANCE_IMAGE", "claudecloud/instance:latest")
"""The instance image; two checkouts testing at once on one engine give each its own tag
(``CLAUDECLOUD_INSTANCE_IMAGE``), or each rebuilds the other's away."""
STANDIN_IMAGE = os.environ.get("CLAUDECLOUD_STANDIN_IMAGE", "claudecloud/instance:standin")
"""The image with the tests' stand-in ``claude`` (``CLAUDE_CODE=standin``)."""


def docker_answers(timeout: float = 2.0) -> bool:
    """Whether a Docker engine answers ``/_ping`` at ``DOCKER_HOST`` (or the local socket)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://"):
        transport = httpx.HTTPTransport(uds=host.removeprefix("unix://"))
        url = "http://docker/_ping"
    else:
        transport = httpx.HTTPTransport()
        url = host.replace("tcp://", "http://", 1).rstrip("/") + "/_ping"
    try:
        with httpx.Client(transport=transport, timeout=timeout) as client:
            return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def instance_image() -> str:
    """The image the provisioner will use (its own setting, as it reads it)."""
    return (
        os.environ.get("PROVISIONER_DOCKER_IMAGE")
        or os.environ.get("DOCKER_IMAGE")
        or DEFAULT_IMAGE
    )


def ensure_instance_image(image: str | None = None) -> None:
    """Build the instance image unless it is up to date, printing the build's progress.

    Raises ``RuntimeError`` when the build fails.
    """
    env = {**os.environ, "INSTANCE_IMAGE": image or instance_image()}
    result = subprocess.run(["bash", str(BUILD_SCRIPT)], env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"building {env['INSTANCE_IMAGE']} failed ({BUILD_SCRIPT})")
