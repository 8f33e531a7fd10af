"""The scripts ``GET /connect.sh`` serves: one per provider to reach a running instance, and one
for every way that can fail. Each is a complete POSIX-sh-compatible bash script that passes
``shellcheck``; a failure prints the reason and what to do on stderr and exits 1, so
``curl … | bash`` always tells the user something."""

from __future__ import annotations

import re
import shlex

from claudecloud_common.contracts.instances import InstanceStatus, InstanceView

_HEADER = """\
#!/usr/bin/env bash
# ClaudeCloud connect script. Run it with: curl -sS -H "Authorization: Bearer $TOKEN" URL | bash
set -euo pipefail
"""

_SAFE_HOST = re.compile(r"^[A-Za-z0-9.:-]+$")


def failure(reason: str, todo: str) -> str:
    """A script that explains why it cannot connect and what to do, then exits 1. The texts
    are single-quoted: printed as they are, never expanded."""
    return (
        _HEADER.replace("set -euo", "# shellcheck disable=SC2016\nset -euo", 1)
        + f"printf 'claude-cloud: %s\\n' {shlex.quote(reason)} >&2\n"
        + f"printf '  -> %s\\n' {shlex.quote(todo)} >&2\n"
        + "exit 1\n"
    )


def for_instance(view: InstanceView, base_url: str) -> str:
    """The script for this instance in its current state."""
    status = view.status
    if status is InstanceStatus.RUNNING:
        return _connect(view, base_url)
    if status in (InstanceStatus.PAUSED, InstanceStatus.PAUSING):
        return failure(
            "your instance is paused", "wake it with 'claude-cloud wake', then connect again"
        )
    if status in (InstanceStatus.PROVISIONING, InstanceStatus.WAKING):
        return failure(
            f"your instance is still starting ({status.value})",
            "wait a few seconds and run this again ('claude-cloud status' shows progress)",
        )
    return failure(
        f"your instance is {status.value}", "create a new one with 'claude-cloud create'"
    )


def _connect(view: InstanceView, base_url: str) -> str:
    if view.provider == "docker":
        return _docker(view)
    if view.provider == "hetzner":
        return _hetzner(view)
    if view.provider == "fake":
        return failure(
            "this platform runs in demo mode (PROVIDER=fake): instances are simulated, "
            "there is nothing to connect to",
            f"ask the operator of {base_url} to run it with a real provider",
        )
    return failure(
        f"connecting to a {view.provider} instance is not supported by this script",
        f"use the web terminal at {base_url}",
    )


def _docker(view: InstanceView) -> str:
    container = shlex.quote(f"claude-{view.user_id}")
    return (
        _HEADER
        + "if ! command -v docker >/dev/null 2>&1; then\n"
        + "  echo 'claude-cloud: docker is not installed on this machine' >&2\n"
        + "  echo '  -> run this on the Docker host of ClaudeCloud' >&2\n"
        + "  exit 1\n"
        + "fi\n"
        + f"exec docker exec -it {container} tmux attach -t claude\n"
    )


def _hetzner(view: InstanceView) -> str:
    if view.host is None or not _SAFE_HOST.match(view.host):
        return failure("your instance has no address yet", "wait a minute and run this again")
    host = shlex.quote(view.host)
    return (
        _HEADER
        + "if ! command -v netbird >/dev/null 2>&1; then\n"
        + "  echo 'claude-cloud: netbird (the private network to your instance) is missing' >&2\n"
        + "  echo '  -> install it from https://netbird.io and sign in, then run this again' >&2\n"
        + "  exit 1\n"
        + "fi\n"
        + "if ! netbird status >/dev/null 2>&1; then\n"
        + "  netbird up\n"
        + "fi\n"
        + "if command -v mosh >/dev/null 2>&1; then\n"
        + f"  exec mosh claude@{host} -- tmux attach -t claude\n"
        + "fi\n"
        + f"exec ssh -t claude@{host} tmux attach -t claude\n"
    )
