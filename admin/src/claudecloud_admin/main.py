"""``claude-cloud-admin``: operate a ClaudeCloud deployment from a terminal.

It talks to the bus (``--nats`` or ``NATS_URL``, a comma-separated list for a cluster), never to
the services' databases: each service answers for its own records. Every failure prints one clear
line and exits 1; ``check`` exits 1 when it finds drift.
"""

from __future__ import annotations

import getpass
import socket
from typing import Annotated

import typer

from . import audit, bus, check
from .options import Options

DEFAULT_NATS = "nats://127.0.0.1:4222"

app = typer.Typer(
    name="claude-cloud-admin",
    help="Operate a ClaudeCloud deployment: dead letters, consumer lag, the reconciliation check, "
    "the audit log.",
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
    operator: Annotated[
        str | None,
        typer.Option(
            "--operator",
            envvar="CLAUDECLOUD_OPERATOR",
            help="Who you are, as the audit log names you (default: your login@host)",
        ),
    ] = None,
) -> None:
    urls = [url.strip() for url in nats.split(",") if url.strip()]
    ctx.obj = Options(urls, operator or _login())


def _login() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):  # no login name for this uid (a container)
        return f"uid-unknown@{socket.gethostname()}"


bus.register(app)
check.register(app)
audit.register(app)


def run() -> None:
    """The console script."""
    app()
