"""The workstation's SSH key, for those who prefer SSH to the platform's tokens: made on the
first start (``ssh-keygen``, Ed25519, no passphrase) in ``~/.ssh`` on the data volume, so it
survives pause, wake and a destroy without purge; the private half is 0600 in a 0700 folder and
never leaves the machine. ``GET /ssh-key`` shows the public half, to paste into the provider.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

from fastapi import APIRouter, Request

from claudecloud_agentapi import SshKey

from .auth import Authenticated
from .errors import AgentError

KEY = Path(".ssh") / "id_ed25519"


class NoSshKeygen(AgentError):
    """``ssh-keygen`` is not installed here (the image's ``openssh-client``)."""

    status_code = 503


def ensure_key(home: Path) -> Path:
    """The private key's path, made first when there is none."""
    key = home / KEY
    folder = key.parent
    folder.mkdir(mode=0o700, exist_ok=True)
    folder.chmod(0o700)
    if not key.exists():
        comment = f"claudecloud@{socket.gethostname()}"
        try:
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)],
                check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=30,
            )  # fmt: skip
        except FileNotFoundError as exc:
            raise NoSshKeygen("ssh-keygen is not installed on this workstation") from exc
    key.chmod(0o600)
    return key


def public_key(home: Path) -> SshKey:
    key = ensure_key(home)
    public = key.with_name(key.name + ".pub")
    line = public.read_text().strip()
    listed = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(public)],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout.split()  # fmt: skip
    return SshKey(public_key=line, fingerprint=listed[1], path=str(KEY))


router = APIRouter(dependencies=[Authenticated])


@router.get("/ssh-key", response_model=SshKey)
async def ssh_key(request: Request) -> SshKey:
    """This workstation's SSH public key (made now if there was none)."""
    return await asyncio.to_thread(public_key, Path.home())
