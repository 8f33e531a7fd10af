"""What every command is given: where the bus is."""

from __future__ import annotations

from dataclasses import dataclass

import typer


@dataclass(frozen=True)
class Options:
    nats_urls: list[str]


def options(ctx: typer.Context) -> Options:
    found: Options = ctx.obj
    return found
