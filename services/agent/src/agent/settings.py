"""Agent settings (``AGENT_*``), read once at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The SDK's own PermissionMode, spelled out: importing the SDK costs most of the agent's start-up,
# and the agent must answer quickly after a wake; the chat imports it when a chat opens.
PermissionMode = Literal["default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto"]


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENT_", extra="ignore", frozen=True)

    secret: SecretStr | None = Field(default=None, min_length=16)
    """``AGENT_SECRET``: every request must present it (see :mod:`agent.auth`), unless the
    secret file holds one (what the provider puts there before the machine starts)."""
    secret_file: Path = Path("/etc/claudecloud/agent-secret")
    """Where the secret is kept: given by the provider before start, replaced by ``PUT
    /secret``; read first, so a replaced secret outlives the agent's restarts."""
    host: str = "0.0.0.0"  # noqa: S104 (inside the container; the provider decides what is exposed)
    port: int = 3001
    data_dir: Path = Path("/claude-data")
    """Every path a caller names is resolved (symlinks included) and must stay under this."""
    tmux_session: str = "claude"
    tmux_setup: str = ""
    """A program run as ``<tmux_setup> ensure`` before each terminal attaches: it creates the
    session with its layout when missing (the image's ``tmux-session.sh``). Empty: a missing
    session is created with one shell."""
    own_commands: frozenset[str] = frozenset(
        {
            "docker-init",
            "tini",
            "supervisor.sh",
            "tmux-session.s",
            "claude-pane.sh",
            "shell-pane.sh",
            "sleep",
            "tmux: server",
        }
    )
    """Process names that are the instance's own machinery, not the user's work."""

    read_limit_bytes: int = Field(default=1024 * 1024, gt=0)
    """``/files/read`` returns at most this much of a file and says when it cut it."""
    list_limit: int = Field(default=5000, gt=0)
    """``/files`` lists at most this many entries of one folder."""
    clone_timeout_seconds: float = Field(default=300.0, gt=0)
    """A clone still running after this is stopped and its folder removed."""
    claude_path: str = "claude"
    """The Claude Code executable the chat runs (a name on ``PATH`` or a path); the image
    installs the real one or, for tests, a stand-in."""
    chat_permission_mode: PermissionMode = "acceptEdits"
    """How the chat's Claude may use tools without asking (the user's own machine)."""
    ws_max_message_bytes: int = Field(default=1024 * 1024, gt=0)
    """A WebSocket message larger than this closes the connection (1009)."""
    terminal_term: str = "xterm-256color"

    checkpoint_max_file_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    """A changed file larger than this is left out of a checkpoint's WIP commit (and listed)."""
    checkpoint_scrollback_lines: int = Field(default=2000, gt=0)
    """Lines of each pane's scrollback a checkpoint saves."""
    checkpoint_concurrency: int = Field(default=4, gt=0)
    """Repositories checkpointed at once."""
    checkpoint_keep: int = Field(default=20, gt=0)
    """WIP branches kept per repository; older ones are deleted by the next checkpoint."""
    claude_transcript_days: int = Field(default=3650, gt=0)
    """Claude's ``cleanupPeriodDays`` where the user has not set it: Claude Code deletes older
    transcripts at start-up (30 days by default), and a wake after a long stop resumes from them."""

    # Git credentials and the SSH key (agent.git)
    gateway_url: str | None = None
    """Where the platform's gateway answers this workstation (``AGENT_GATEWAY_URL``, from the
    provisioner: not a secret); unset: git gets no credential from the platform."""
    instance_id: str | None = None
    """This instance's id (``AGENT_INSTANCE_ID``, from the provisioner), named to the gateway."""
    runtime_dir: Path = Path("/opt/claudecloud/run")
    """Holds ``agent.sock`` (the credential helper's way in, only this user's) and
    ``gitconfig`` (the hosts the helper answers for; the system git configuration includes
    it). The image makes it, owned by the instance's user."""
    git_helper: str = "/opt/claudecloud/bin/git-credential-claudecloud"
    """The credential helper git runs (the image installs it)."""
    gateway_timeout_seconds: float = Field(default=20.0, gt=0)
    ssh_key: bool = True
    """Make ``~/.ssh/id_ed25519`` on start when there is none (``GET /ssh-key`` shows it)."""
