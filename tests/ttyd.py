"""The ttyd terminal client the tests use (shared with the benchmarks, so it lives in devstack)."""

from claudecloud_agentapi.terminal import (
    INPUT,
    OUTPUT,
    PAUSE,
    PREFERENCES,
    RESIZE,
    RESUME,
    TITLE,
)
from devstack.ttyd import (
    DIVIDER,
    STATUS_BACKGROUND,
    Layout,
    Terminal,
    drawn_at,
    first_drawn_at,
    shows_in_pane,
    stand_in_pid,
)

__all__ = [
    "DIVIDER",
    "INPUT",
    "OUTPUT",
    "PAUSE",
    "PREFERENCES",
    "RESIZE",
    "RESUME",
    "STATUS_BACKGROUND",
    "TITLE",
    "Layout",
    "Terminal",
    "drawn_at",
    "first_drawn_at",
    "shows_in_pane",
    "stand_in_pid",
]
