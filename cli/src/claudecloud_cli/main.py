"""``claude-cloud``: sign in, manage your instance and connect to it from a terminal.

The session token lives in ``~/.claude-cloud/token`` (mode 0600; ``CLAUDE_CLOUD_HOME`` moves
the folder). The API is ``--api`` or ``CLAUDE_CLOUD_API`` (default ``http://localhost:8000``).
Every failure prints one clear line and exits 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Annotated, Any, NoReturn
from urllib.parse import parse_qs, urlsplit

import httpx
import typer

from .store import TokenStore

DEFAULT_API = "http://localhost:8000"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)

app = typer.Typer(
    name="claude-cloud",
    help="Your ClaudeCloud workstation from the terminal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Context:
    def __init__(self, api: str) -> None:
        self.api = api.rstrip("/")
        self.store = TokenStore.default()

    def client(self, *, signed_in: bool = True) -> httpx.Client:
        headers = {"Accept": "application/json", "User-Agent": "claude-cloud"}
        if signed_in:
            token = self.store.read()
            if token is None:
                fail("not signed in: run `claude-cloud login EMAIL` first")
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.api, headers=headers, timeout=TIMEOUT)

    def call(self, method: str, path: str, *, signed_in: bool = True, **kw: Any) -> Any:
        """One API call; the JSON answer, or one line saying what went wrong and exit 1."""
        with self.client(signed_in=signed_in) as client:
            try:
                response = client.request(method, path, **kw)
            except httpx.HTTPError as exc:
                fail(f"cannot reach {self.api}: {exc}")
        if response.status_code == 401 and signed_in:
            fail(f"not signed in ({_detail(response)}): run `claude-cloud login EMAIL` again")
        if response.is_error:
            fail(f"{_detail(response)} (HTTP {response.status_code})")
        return response.json() if response.content else None


def fail(message: str) -> NoReturn:
    typer.echo(f"claude-cloud: {message}", err=True)
    raise typer.Exit(1)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip().splitlines()[0] if response.text.strip() else "no detail"
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)


def _ctx(ctx: typer.Context) -> Context:
    state: Context = ctx.obj
    return state


@app.callback()
def main(
    ctx: typer.Context,
    api: Annotated[
        str, typer.Option("--api", envvar="CLAUDE_CLOUD_API", help="The ClaudeCloud API address")
    ] = DEFAULT_API,
) -> None:
    ctx.obj = Context(api)


@app.command()
def login(ctx: typer.Context, email: str) -> None:
    """Email yourself a sign-in link."""
    _ctx(ctx).call("POST", "/auth/login", signed_in=False, json={"email": email})
    typer.echo(f"A sign-in link is on its way to {email}.")
    typer.echo("Then run: claude-cloud verify '<the link>'")


@app.command()
def verify(ctx: typer.Context, token_or_link: str) -> None:
    """Spend the link from the email (or its token) for a session kept on this machine."""
    state = _ctx(ctx)
    token = _token_from(token_or_link)
    body = state.call("POST", "/auth/verify", signed_in=False, json={"token": token})
    state.store.write(body["token"])
    typer.echo(f"Signed in as {body['email']} (until {body['expires_at']}).")


def _token_from(token_or_link: str) -> str:
    value = token_or_link.strip()
    if "://" in value or value.startswith("/"):
        found = parse_qs(urlsplit(value).query).get("token")
        if not found:
            fail("that link has no token in it: paste the whole link from the email")
        return found[0]
    return value


@app.command()
def status(ctx: typer.Context) -> None:
    """Who you are and how your instance is doing."""
    state = _ctx(ctx)
    me = state.call("GET", "/auth/me")
    typer.echo(f"Signed in as {me['email']}")
    instances: list[dict[str, Any]] = state.call("GET", "/instances")
    instance = _live(instances) or next(iter(instances), None)  # else the newest: why it ended
    if instance is None or instance["status"] == "destroyed":
        typer.echo("No instance: run `claude-cloud create`.")
        return
    typer.echo("\n".join(describe(instance)))


def describe(instance: dict[str, Any]) -> list[str]:
    """An instance as ``status`` prints it: its state, and why when it failed or paused."""
    lines = [f"Instance {instance['id']}: {instance['status']} ({instance['provider']})"]
    if instance.get("failure"):
        reason = instance.get("reason")
        lines.append(f"  failed ({instance['failure']})" + (f": {reason}" if reason else ""))
        lines.append("  run `claude-cloud create` for a new one (your files are kept)")
    elif instance.get("pause_reason"):
        lines.append(f"  paused ({instance['pause_reason']}): run `claude-cloud wake`")
    return lines


NoWait = Annotated[
    bool, typer.Option("--no-wait", help="Return once the command is accepted, without waiting")
]
Timeout = Annotated[float, typer.Option(help="Seconds to wait for `running`")]


@app.command()
def create(ctx: typer.Context, no_wait: NoWait = False, timeout: Timeout = 300) -> None:
    """Create your instance and wait until it runs."""
    state = _ctx(ctx)
    accepted = state.call("POST", "/instances", json={})
    typer.echo(f"Instance {accepted['id']}: {accepted['status']}")
    if not no_wait:
        wait_running(state, accepted["id"], timeout)


@app.command()
def pause(
    ctx: typer.Context,
    stop: Annotated[
        bool,
        typer.Option(
            "--stop/--keep-memory",
            help="Stop it (files kept, after a checkpoint) or freeze it (every process kept, "
            "woken in milliseconds); default: the platform's",
            show_default=False,
        ),
    ]
    | None = None,
) -> None:
    """Pause your instance: frozen with every process kept, or stopped with its files kept."""
    body = {} if stop is None else {"keep_memory": not stop}
    _transition(_ctx(ctx), "POST", "pause", json=body)


@app.command()
def wake(ctx: typer.Context, no_wait: NoWait = False, timeout: Timeout = 300) -> None:
    """Wake your paused or frozen instance and wait until it runs."""
    state = _ctx(ctx)
    accepted = _transition(state, "POST", "wake")
    if not no_wait:
        wait_running(state, accepted["id"], timeout)


def wait_running(state: Context, instance_id: str, timeout: float) -> None:
    """Follow the instance's event stream until it runs; one line per change, and one clear
    line and exit 1 when it fails, ends up elsewhere or takes longer than ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    try:
        with (
            state.client() as client,
            client.stream(
                "GET", f"/instances/{instance_id}/events", timeout=httpx.Timeout(20.0, connect=5.0)
            ) as response,
        ):
            if response.is_error:
                response.read()
                fail(f"{_detail(response)} (HTTP {response.status_code})")
            for view in _events(response):
                if view["status"] != last:
                    last = view["status"]
                    typer.echo(f"  {last}")
                if last == "running":
                    return
                if last in ("failed", "destroyed") or view.get("type") == "instance.rejected":
                    fail(_ended(view))
                if time.monotonic() > deadline:
                    break
    except httpx.HTTPError as exc:
        fail(f"lost the instance's event stream: {exc}; `claude-cloud status` shows where it is")
    fail(f"still {last} after {timeout:g} s; `claude-cloud status` shows where it is")


def _events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Each server-sent event's data, as the instance it describes; keep-alives too (as the
    last one seen), so a caller waiting for a deadline looks at the clock on each."""
    last: dict[str, Any] = {"status": None}
    for line in response.iter_lines():
        if line.startswith("data:"):
            with contextlib.suppress(ValueError):
                last = {"type": None, **json.loads(line[5:])}
                yield last
        elif line.startswith(":"):
            yield last


def _ended(view: dict[str, Any]) -> str:
    reason = view.get("reason") or view.get("detail") or ""
    code = f" ({view['code']})" if view.get("code") else ""
    return f"the instance is {view['status']}{code}" + (f": {reason}" if reason else "")


@app.command()
def destroy(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False,
    purge: Annotated[bool, typer.Option(help="Also delete your files")] = False,
) -> None:
    """Destroy your instance (your files are kept unless --purge)."""
    if not yes and not typer.confirm("Destroy your instance?"):
        raise typer.Exit(1)
    _transition(_ctx(ctx), "DELETE", "", params={"purge": str(purge).lower()})


def _transition(state: Context, method: str, action: str, **kw: Any) -> dict[str, Any]:
    instance = _live_instance(state)
    if instance is None:
        fail("you have no instance: run `claude-cloud create`")
    path = f"/instances/{instance['id']}" + (f"/{action}" if action else "")
    accepted: dict[str, Any] = state.call(method, path, **kw)
    typer.echo(f"Instance {accepted['id']}: {accepted['status']}")
    return accepted


def _live_instance(state: Context) -> dict[str, Any] | None:
    return _live(state.call("GET", "/instances"))


def _live(instances: list[dict[str, Any]]) -> dict[str, Any] | None:
    live = [i for i in instances if i["status"] not in ("destroyed", "failed")]
    return live[0] if live else None


@app.command()
def connect(
    ctx: typer.Context,
    print_only: Annotated[
        bool, typer.Option("--print", help="Print the connect script instead of running it")
    ] = False,
) -> None:
    """Open your instance's terminal (fetches the connect script and runs it)."""
    state = _ctx(ctx)
    with state.client() as client:
        try:
            response = client.get("/connect.sh", headers={"Accept": "text/x-shellscript"})
        except httpx.HTTPError as exc:
            fail(f"cannot reach {state.api}: {exc}")
    if response.status_code == 401:
        state.call("GET", "/auth/me")  # says why the session was refused, in one line
    script = response.text
    if not script.startswith("#!"):
        fail(f"the server sent no connect script (HTTP {response.status_code})")
    if print_only:
        typer.echo(script, nl=False)
        raise typer.Exit(0 if response.is_success else 1)
    # The script itself explains any failure on stderr and exits 1. Replacing this process
    # keeps the terminal (and Ctrl-C) the user's.
    sys.stdout.flush()
    os.execvp("bash", ["bash", "-c", script, "claude-cloud-connect"])  # noqa: S606


@app.command()
def logout(ctx: typer.Context) -> None:
    """Sign out everywhere and forget the token on this machine."""
    state = _ctx(ctx)
    if state.store.read() is not None:
        # Forgetting the token here works even when the server cannot be reached.
        with state.client() as client, contextlib.suppress(httpx.HTTPError):
            client.post("/auth/logout")
    state.store.clear()
    typer.echo("Signed out.")


claude_key = typer.Typer(
    help="The Anthropic API key or Claude Code OAuth token your instance's Claude uses "
    "(the other way in is /login in the Claude pane).",
    no_args_is_help=True,
)
app.add_typer(claude_key, name="claude-key")
OAUTH_TOKEN_PREFIX = "sk-ant-oat"  # noqa: S105 (what `claude setup-token` prints begins with)


@claude_key.command("set")
def claude_key_set(
    ctx: typer.Context,
    kind: Annotated[
        str | None,
        typer.Option(help="api_key or oauth_token (default: told apart by the value's prefix)"),
    ] = None,
) -> None:
    """Store a key: piped on stdin, or typed at a hidden prompt (never on the command line)."""
    if sys.stdin.isatty():
        value = typer.prompt("Anthropic API key or Claude Code OAuth token", hide_input=True)
    else:
        value = sys.stdin.read()
    value = value.strip()
    if not value:
        fail("no key given (pipe it in, or type it at the prompt)")
    kind = kind or ("oauth_token" if value.startswith(OAUTH_TOKEN_PREFIX) else "api_key")
    stored = _ctx(ctx).call("PUT", "/me/claude-credential", json={"kind": kind, "value": value})
    where = "your running instance has it" if stored["delivered_to"] else "your instance gets it"
    typer.echo(f"Stored your {stored['kind']} ending in {stored['last_four']}: {where}.")


@claude_key.command("clear")
def claude_key_clear(ctx: typer.Context) -> None:
    """Forget the stored key, here and in your instance."""
    _ctx(ctx).call("DELETE", "/me/claude-credential")
    typer.echo("Cleared: your instance's Claude no longer has a stored key.")


from .billing import register as _register_billing  # noqa: E402 (they build on the helpers above)
from .git import register as _register_git  # noqa: E402

_register_git(app)
_register_billing(app)


def run() -> None:
    """The console script."""
    app()
