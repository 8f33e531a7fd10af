"""The scripts ``GET /connect.sh`` serves: one per provider to reach a running instance, and one
for every way that can fail. Each is a complete POSIX-sh-compatible bash script that passes
``shellcheck``; a failure prints the reason and what to do on stderr and exits 1, so
``curl … | bash`` always tells the user something."""

from __future__ import annotations

import re
import shlex

from pydantic import SecretStr

from claudecloud_common.contracts.instances import InstanceStatus, InstanceView
from claudecloud_common.contracts.providers import KUBERNETES_NAMESPACE, ConnectVia

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


def for_instance(view: InstanceView, base_url: str, *, device_key: SecretStr | None = None) -> str:
    """The script for this instance in its current state (``device_key``: a one-off key that
    joins the caller's device to a Hetzner instance's mesh)."""
    status = view.status
    if status is InstanceStatus.RUNNING:
        return _connect(view, base_url, device_key)
    if status in (InstanceStatus.PAUSED, InstanceStatus.PAUSING, InstanceStatus.FROZEN):
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


def _connect(view: InstanceView, base_url: str, device_key: SecretStr | None) -> str:
    match view.capabilities.connect:
        case ConnectVia.DOCKER_EXEC:
            return _docker(view)
        case ConnectVia.KUBECTL_EXEC:
            return _kubectl(view)
        case ConnectVia.MESH_SSH:
            return _hetzner(view, device_key)
        case ConnectVia.NOTHING:
            return failure(
                "this platform runs in demo mode: instances are simulated, "
                "there is nothing to connect to",
                f"ask the operator of {base_url} to run it with a real provider",
            )
    return failure(  # pragma: no cover: a new way to connect without its script
        f"connecting to a {view.provider.value} instance is not supported by this script",
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


_FAIL = """\
fail() {
  printf 'claude-cloud: %s\\n' "$1" >&2
  printf '  -> %s\\n' "$2" >&2
  exit 1
}
"""
"""A shell function: the reason and what to do on stderr, then exit 1."""

_KUBECTL = (
    _FAIL
    + """\
command -v kubectl >/dev/null 2>&1 \\
  || fail 'kubectl is not installed on this machine' \\
    'run this where kubectl reaches the cluster ClaudeCloud runs workstations on'
NAMESPACE="${CLAUDECLOUD_NAMESPACE:-$DEFAULT_NAMESPACE}"
kubectl get pod "$POD" --namespace "$NAMESPACE" >/dev/null 2>&1 \\
  || fail "no workstation pod $POD in namespace $NAMESPACE" \\
    'set CLAUDECLOUD_NAMESPACE to the namespace of the workstations, or check your kubectl context'
exec kubectl exec -it "$POD" --namespace "$NAMESPACE" -c workstation -- tmux attach -t claude
"""
)


def _kubectl(view: InstanceView) -> str:
    """``kubectl exec`` into the user's pod (named as the provider names it), in the default
    workstations' namespace unless ``CLAUDECLOUD_NAMESPACE`` names the operator's own."""
    return (
        _HEADER
        + f"POD={shlex.quote(f'claude-{view.user_id}')}\n"
        + f"DEFAULT_NAMESPACE={shlex.quote(KUBERNETES_NAMESPACE)}\n"
        + _KUBECTL
    )


_MESH = (
    _FAIL
    + """\
if ! command -v netbird >/dev/null 2>&1; then
  command -v curl >/dev/null 2>&1 \\
    || fail 'the Netbird client is missing and curl is not there to install it' \\
      'install curl (or Netbird from https://docs.netbird.io), then run this again'
  printf 'claude-cloud: installing the Netbird client (your private network)\\n' >&2
  curl -fsSL https://pkgs.netbird.io/install.sh | sh \\
    || fail 'the Netbird client could not be installed' \\
      'install it from https://docs.netbird.io, then run this again'
fi
if ! netbird status 2>/dev/null | grep -q 'Management: Connected'; then
  netbird up --setup-key "$SETUP_KEY" \\
    || fail 'this device could not join your private network' \\
      'run this again for a fresh key; if it keeps failing, run: netbird status'
fi
if command -v mosh >/dev/null 2>&1; then
  mosh "claude@$HOST" -- tmux attach -t claude \\
    || fail "the connection to $HOST ended with an error" 'run this again to reconnect'
  exit 0
fi
command -v ssh >/dev/null 2>&1 \\
  || fail 'neither mosh nor ssh is installed' 'install mosh (or OpenSSH), then run this again'
ssh -t "claude@$HOST" tmux attach -t claude \\
  || fail "the connection to $HOST ended with an error" 'run this again to reconnect'
"""
)


def _hetzner(view: InstanceView, device_key: SecretStr | None) -> str:
    """Join the user's mesh with a one-off key for this device (installing Netbird when
    missing), then mosh (or ssh) to the instance's mesh address into the tmux session."""
    address = (view.host or "").rsplit(":", 1)[0] if view.host else None
    if address is None or not _SAFE_HOST.match(address):
        return failure("your instance has no address yet", "wait a minute and run this again")
    if device_key is None:
        return failure(
            "your instance's private network is not ready", "wait a minute and run this again"
        )
    return (
        _HEADER
        + f"HOST={shlex.quote(address)}\n"
        + f"SETUP_KEY={shlex.quote(device_key.get_secret_value())}\n"
        + _MESH
    )
