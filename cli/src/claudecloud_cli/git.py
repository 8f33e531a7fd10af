"""``claude-cloud git ...``, ``claude-cloud clone`` and ``claude-cloud ssh-key``: connect your git
provider (GitHub's device flow: a code to enter in your browser), list your repositories, clone
one into your workstation, and show the workstation's SSH public key.

Once connected, git on the workstation asks the platform for a current token by itself: clone,
fetch and push from the terminal, Claude or the dashboard need nothing more.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import httpx
import typer

from .main import Context, _ctx, _live_instance, fail

CLONE_TIMEOUT = httpx.Timeout(340.0, connect=5.0)
"""The gateway gives a clone up to 330 s."""

app = typer.Typer(
    help="Your git provider (GitHub): connect it once, and git on your workstation asks the "
    "platform for a token whenever it needs one.",
    no_args_is_help=True,
)

Provider = Annotated[
    str, typer.Argument(help="The provider's name (see `claude-cloud git status`)")
]


@app.command("connect")
def connect(ctx: typer.Context, provider: Provider = "github") -> None:
    """Connect your account: open the address shown, enter the code, and wait here."""
    state = _ctx(ctx)
    name = state.call("GET", f"/me/git/{provider}")["name"]
    started = state.call("POST", f"/me/git/{provider}/device")
    typer.echo(f"Open {started['verification_uri']} and enter the code: {started['user_code']}")
    typer.echo("Waiting for you to authorize ClaudeCloud there (Ctrl-C to stop)…")
    interval = int(started["interval"])
    deadline = time.monotonic() + int(started["expires_in"])
    while time.monotonic() < deadline:
        time.sleep(interval)  # the provider's pace: never sooner than it asks
        polled = state.call(
            "POST", f"/me/git/{provider}/device/poll", json={"device_id": started["device_id"]}
        )
        if polled["status"] == "connected":
            typer.echo(f"Connected {name} as {_account(polled['account'])}.")
            return
        interval = int(polled["interval"])  # slow_down: it grew
    fail("the code expired before it was entered: run `claude-cloud git connect` again")


@app.command("status")
def status(ctx: typer.Context) -> None:
    """Which git providers are offered here, and the account you connected to each."""
    found: list[dict[str, Any]] = _ctx(ctx).call("GET", "/me/git")
    if not found:
        typer.echo("No git provider is configured on this ClaudeCloud.")
    for connection in found:
        if connection["connected"]:
            line = f"connected as {_account(connection['account'])}"
        else:
            line = f"not connected: run `claude-cloud git connect {connection['provider']}`"
        typer.echo(f"{connection['name']} ({connection['host']}): {line}")


@app.command("disconnect")
def disconnect(ctx: typer.Context, provider: Provider = "github") -> None:
    """Forget your account here and revoke its token at the provider."""
    _ctx(ctx).call("DELETE", f"/me/git/{provider}")
    typer.echo(f"Disconnected {provider}: its token is revoked.")


@app.command("repos")
def repos(
    ctx: typer.Context,
    provider: Provider = "github",
    page: Annotated[int, typer.Option(help="Which page (50 a page)")] = 1,
) -> None:
    """Your repositories at the provider, most recently updated first."""
    found = _ctx(ctx).call("GET", f"/me/git/{provider}/repos", params={"page": page})
    for repository in found["repositories"]:
        kind = "private" if repository["private"] else "public"
        branch = repository["default_branch"] or "-"
        typer.echo(f"{repository['full_name']:<50} {kind:<8} {branch}")
    if found["more"]:
        typer.echo(f"(more: --page {page + 1})")


def clone(
    ctx: typer.Context,
    repository: Annotated[str, typer.Argument(help="OWNER/REPO at your git provider, or a URL")],
    name: Annotated[
        str | None, typer.Option(help="The folder (default: the repository's name)")
    ] = None,
) -> None:
    """Clone a repository into your workstation (a private one too, once connected)."""
    state = _ctx(ctx)
    url = repository if "://" in repository or "@" in repository else _url_of(state, repository)
    instance = _live_instance(state)
    if instance is None:
        fail("you have no instance: run `claude-cloud create`")
    body = {"url": url, **({"name": name} if name else {})}
    path = f"/instances/{instance['id']}/projects/clone"
    project = state.call("POST", path, json=body, timeout=CLONE_TIMEOUT)
    typer.echo(f"Cloned {repository} into ~/{project['path']}")


def ssh_key(ctx: typer.Context) -> None:
    """Your workstation's SSH public key: add it to your git provider to use SSH."""
    state = _ctx(ctx)
    instance = _live_instance(state)
    if instance is None:
        fail("you have no instance: run `claude-cloud create`")
    key = state.call("GET", f"/instances/{instance['id']}/ssh-key")
    typer.echo(key["public_key"])
    typer.echo(f"({key['fingerprint']}; add it to your git provider's SSH keys)", err=True)


def _url_of(state: Context, repository: str) -> str:
    owner, slash, name = repository.strip("/").partition("/")
    if not slash or not owner or not name or "/" in name:
        fail("name the repository as OWNER/REPO (or give its URL)")
    connections: list[dict[str, Any]] = state.call("GET", "/me/git")
    connected = [c for c in connections if c["connected"]] or connections
    if not connected:
        fail("no git provider is configured here: give the repository's URL")
    return f"{connected[0]['host']}/{owner}/{name.removesuffix('.git')}.git"


def _account(account: dict[str, Any]) -> str:
    scopes = ", ".join(account["scopes"]) or "none"
    return f"{account['login']} (scopes: {scopes})"


def register(main: typer.Typer) -> None:
    """Add ``git ...``, ``clone`` and ``ssh-key`` to the ``claude-cloud`` command."""
    main.add_typer(app, name="git")
    main.command("clone")(clone)
    main.command("ssh-key")(ssh_key)
