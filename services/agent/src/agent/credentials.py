"""The user's Claude credential on this instance, and how Claude is signed in here.

Two ways in, both kept:

- Claude's own sign-in (``/login`` in the Claude pane, or ``claude setup-token``) writes
  ``~/.claude/.credentials.json`` in the user's home, on the data volume. The agent only looks.
- An API key or Claude Code OAuth token the user stored with the gateway, which pushes it here
  (``PUT /credentials``). It is kept in one file, ``~/.config/claudecloud/claude-credential``
  (0600, its folder 0700): the variable's name on the first line, the value on the second. It is
  never in the agent's own environment: the chat hands it to Claude Code's process through the
  SDK's ``env`` option, and the Claude pane (``claude-pane.sh``) exports it only into ``claude``.

Each push carries the gateway's revision of the credential; an older one than what is here (a
late retry) changes nothing, so pushes may repeat and race safely.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
from pathlib import Path

from pydantic import SecretStr

from claudecloud_agentapi import ClaudeStatus, CredentialKind, CredentialPush, SignInMethod

CLAUDE_EXECUTABLE = "claude"
NOT_SIGNED_IN = "claude_not_signed_in"
WAYS_IN = (
    "Claude is not signed in on this workstation. Two ways in: sign in with your Claude "
    "subscription (run /login in the Claude pane of the terminal, or `claude setup-token`), or "
    "store an Anthropic API key or Claude Code OAuth token with `claude-cloud claude-key set` "
    "(PUT /me/claude-credential)."
)


class CredentialStore:
    """The credential file in ``home`` and what it says about signing in."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.folder = home / ".config" / "claudecloud"
        self.path = self.folder / "claude-credential"
        self.revision_path = self.folder / "claude-credential.revision"

    def read(self) -> tuple[CredentialKind, SecretStr] | None:
        try:
            name, value = self.path.read_text().splitlines()[:2]
        except (OSError, ValueError):
            return None
        kinds = {kind.variable: kind for kind in CredentialKind}
        return (kinds[name], SecretStr(value)) if name in kinds and value else None

    def environment(self) -> dict[str, str]:
        """What Claude Code's own process needs in its environment (nothing when none is kept)."""
        found = self.read()
        return {found[0].variable: found[1].get_secret_value()} if found else {}

    def revision(self) -> int | None:
        try:
            return int(self.revision_path.read_text().strip())
        except (OSError, ValueError):
            return None

    def put(self, push: CredentialPush) -> bool:
        """Keep the pushed credential unless a newer one is here; True when it was applied."""
        if not self._current(push.revision):
            return False
        self._write(self.path, f"{push.kind.variable}\n{push.value.get_secret_value()}\n")
        self._write(self.revision_path, f"{push.revision}\n")
        return True

    def clear(self, revision: int) -> bool:
        """Delete the credential file and stop the Claude processes started with it, unless a
        newer credential is here; True when it was applied."""
        if not self._current(revision):
            return False
        held = self.environment()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._write(self.revision_path, f"{revision}\n")
        for variable, value in held.items():
            stop_claude_holding(f"{variable}={value}".encode())
        return True

    def status(self) -> ClaudeStatus:
        stored = self.read()
        subscription = self.subscription_file().is_file()
        if stored is not None:
            method = SignInMethod(stored[0].value)
        else:
            method = SignInMethod.SUBSCRIPTION if subscription else SignInMethod.NONE
        return ClaudeStatus(
            signed_in=method is not SignInMethod.NONE,
            method=method,
            subscription=subscription,
            stored_credential=stored[0] if stored else None,
            revision=self.revision(),
        )

    def subscription_file(self) -> Path:
        config = os.environ.get("CLAUDE_CONFIG_DIR")
        return (Path(config) if config else self.home / ".claude") / ".credentials.json"

    def _current(self, revision: int) -> bool:
        kept = self.revision()
        return kept is None or revision >= kept

    def _write(self, path: Path, text: str) -> None:
        # A private draft renamed into place: never a moment with the value readable by others,
        # never a half-written file.
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.folder.chmod(0o700)
        draft = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(draft, path)


def stop_claude_holding(entry: bytes) -> None:
    """SIGTERM every ``claude`` process whose environment holds ``entry`` (a cleared credential):
    the Claude pane starts it again without; the chat starts a fresh one at its next turn."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if not _is_claude((proc / "cmdline").read_bytes()):
                continue
            if entry not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            os.kill(int(proc.name), signal.SIGTERM)
        except (OSError, ValueError):
            continue


def _is_claude(cmdline: bytes) -> bool:
    """The executable, or the script an interpreter runs (``python3 .../claude``), is claude."""
    words = cmdline.split(b"\0")[:2]
    return any(Path(word.decode(errors="replace")).name == CLAUDE_EXECUTABLE for word in words)
