"""``claude-cloud-admin``: operate a ClaudeCloud deployment from a terminal.

It talks to the bus (``--nats`` or ``NATS_URL``, a comma-separated list for a cluster), never to
the services' databases: each service answers for its own records. Every failure prints one clear
line and exits 1; ``check`` exits 1 when it finds drift.
"""

from __future__ import annotations

from typing import Annotated

import typer

from . import bus, check
from .options import Options

DEFAULT_NATS = "nats://127.0.0.1:4222"

app = typer.Typer(
    name="claude-cloud-admin",
    help="Operate a ClaudeCloud deployment: dead letters, consumer lag, the reconciliation check.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    nats: Annotated[
        str,
        typer.Option("--nats", envvar="NATS_URL", help="NATS server URL(s), comma-separated"),
    ] = DEFAULT_NATS,
) -> None:
    ctx.obj = Options([url.strip() for url in nats.split(",") if url.strip()])


bus.register(app)
check.register(app)


def run() -> None:
    """The console script."""
    app()
