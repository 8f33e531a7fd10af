"""What every command is given: where the bus is, and who runs it."""

from __future__ import annotations

from dataclasses import dataclass

import typer


@dataclass(frozen=True)
class Options:
    nats_urls: list[str]
    operator: str = "operator"
    """Who runs the command, as the audit log names them."""


def options(ctx: typer.Context) -> Options:
    found: Options = ctx.obj
    return found
