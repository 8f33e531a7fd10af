"""Agent settings (``AGENT_*``), read once at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENT_", extra="ignore", frozen=True)

    secret: SecretStr = Field(min_length=16)
    """``AGENT_SECRET``: every request must present it (see :mod:`agent.auth`)."""
    host: str = "0.0.0.0"  # noqa: S104 (inside the container; the provider decides what is exposed)
    port: int = 3001
    data_dir: Path = Path("/claude-data")
    tmux_session: str = "claude"
    own_commands: frozenset[str] = frozenset(
        {"docker-init", "tini", "supervisor.sh", "tmux-session.s", "sleep", "tmux: server"}
    )
    """Process names that are the instance's own machinery, not the user's work."""
