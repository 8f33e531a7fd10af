"""Dead letters (list, replay) and consumer lag. (Skeleton: filled in by the operations work.)"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
