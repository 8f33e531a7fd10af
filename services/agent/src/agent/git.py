"""Git credentials on the workstation: git asks the credential helper, the helper asks this
agent over its local socket, the agent asks the gateway (:mod:`claudecloud_agentapi.git`).

Why the agent asks the gateway, each time, rather than the gateway pushing the token here as it
pushes Claude's credential: the token never rests on the workstation (not on disk, not in a
process's environment, not in memory beyond one answer), a disconnect takes effect at the next
git call (nothing here to take back), a refresh happens exactly when git needs a token and in
one place (the gateway serialises it), and a workstation that was paused through a token's
expiry needs nothing pushed when it wakes. The price is a round trip per git operation that
authenticates (a clone, a fetch, a push), which git makes once per command.

The agent authenticates to the gateway with its own secret and names its instance; the gateway
checks both against the provisioner's record and answers only with that instance's owner's
token. The helper reaches the agent over a Unix socket that only the instance's user can open
(the routes here answer nothing over TCP): the same user whose git it is.

At start, the agent asks the gateway which hosts the provider has and writes them into
``<runtime_dir>/gitconfig``, which the system-wide git configuration includes
(``credential.<host>.helper``): git then asks the helper for those hosts and no others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import subprocess
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from claudecloud_agentapi import CredentialQuery, GitCredential, GitSetup

from .auth import SecretKeeper
from .errors import AgentError, Unauthorized
from .settings import AgentSettings

log = logging.getLogger("agent.git")
SOCKET_NAME = "agent.sock"
GITCONFIG_NAME = "gitconfig"
SETUP_RETRY_MAX_SECONDS = 30.0


class GatewayRefused(AgentError):
    """The gateway answered with an error: its status and body are passed on as they are."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body.get("detail") or f"the platform answered {status}"))
        self.status = status
        self.body = body


class NoGateway(AgentError):
    """This workstation was not told where the platform is (``AGENT_GATEWAY_URL``)."""

    status_code = 503


class GatewayUnreachable(AgentError):
    status_code = 502


class Gateway:
    """The gateway's workstation routes, over the standard library (the agent stays small)."""

    def __init__(self, settings: AgentSettings, keeper: SecretKeeper) -> None:
        if not settings.gateway_url or not keeper.instance_id:
            raise NoGateway("this workstation does not know where the platform is")
        base = settings.gateway_url.rstrip("/")
        self.base = f"{base}/agent/instances/{keeper.instance_id}"
        self.secret = keeper.current  # the agent's own, as it is now (a claim may have replaced it)
        self.timeout = settings.gateway_timeout_seconds

    def setup(self) -> GitSetup:
        return GitSetup.model_validate(self._call("GET", "/git"))

    def credential(self, query: CredentialQuery) -> GitCredential:
        body = query.model_dump_json(exclude_none=True).encode()
        return GitCredential.model_validate(self._call("POST", "/git/credential", body))

    def _call(self, method: str, path: str, body: bytes | None = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 (the platform's own http(s) URL)
            self.base + path,
            data=body,
            method=method,
            headers={
                "Authorization": f"Bearer {self.secret.get_secret_value()}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                return json.loads(answer.read())
        except urllib.error.HTTPError as refused:
            raise GatewayRefused(refused.code, _error_body(refused)) from None
        except (OSError, ValueError) as exc:
            raise GatewayUnreachable(
                f"the platform did not answer ({type(exc).__name__})"
            ) from None


def _error_body(refused: urllib.error.HTTPError) -> dict[str, Any]:
    try:
        body = json.loads(refused.read())
    except (OSError, ValueError):
        body = None
    if isinstance(body, dict) and "detail" in body:
        return body
    return {"error": "GatewayError", "detail": f"the platform answered {refused.code}"}


def write_gitconfig(settings: AgentSettings, setup: GitSetup) -> Path:
    """Make git ask the helper for the provider's hosts, and for no others."""
    lines = [f"# Written by the ClaudeCloud agent: git asks it for {setup.provider} credentials."]
    for host in setup.hosts:
        lines += [f'[credential "{host}"]', f"\thelper = {settings.git_helper}"]
    path = settings.runtime_dir / GITCONFIG_NAME
    draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    draft.write_text("\n".join(lines) + "\n")
    os.replace(draft, path)
    return path


async def learn_git_setup(settings: AgentSettings, keeper: SecretKeeper) -> None:
    """Ask the gateway for the provider's hosts until it answers (1 s, doubling to 30 s), then
    write them for git. Runs in the background from the agent's start."""
    if not settings.gateway_url or not keeper.instance_id:
        return  # a pool machine: it learns who it is when a create claims it
    delay = 1.0
    while True:
        try:
            setup = await asyncio.to_thread(Gateway(settings, keeper).setup)
            await asyncio.to_thread(write_gitconfig, settings, setup)
            log.info("git setup: credentials for %s", ", ".join(setup.hosts) or "no host")
            return
        except (AgentError, OSError) as exc:
            log.warning("git setup: %s; asking again in %.0f s", exc, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, SETUP_RETRY_MAX_SECONDS)


@asynccontextmanager
async def background(app: FastAPI) -> AsyncIterator[None]:
    """From the agent's start, in the background: learn the provider's hosts, make the SSH key
    if there is none."""
    settings: AgentSettings = app.state.settings
    tasks = [asyncio.create_task(learn_git_setup(settings, app.state.secret))]
    if settings.ssh_key:
        tasks.append(asyncio.create_task(_ssh_key()))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _ssh_key() -> None:
    from .sshkey import ensure_key

    try:
        await asyncio.to_thread(ensure_key, Path.home())
    except (AgentError, OSError, subprocess.SubprocessError) as exc:
        log.warning("no SSH key made: %s", exc)


def local_only(request: Request) -> None:
    """Refuse anything that did not come over the agent's Unix socket (its ``server`` has no
    port there): only the workstation's own user can open that socket."""
    server = request.scope.get("server")
    if not server or server[1] is not None:
        raise Unauthorized("only the workstation's own git credential helper may ask this")


def get_settings(request: Request) -> AgentSettings:
    settings: AgentSettings = request.app.state.settings
    return settings


local = APIRouter(dependencies=[Depends(local_only)])


@local.post("/git/credential", response_model=GitCredential)
async def git_credential(
    query: CredentialQuery,
    settings: Annotated[AgentSettings, Depends(get_settings)],
    request: Request,
) -> GitCredential | JSONResponse:
    """A current token for git (the helper's ``get``), from the gateway; a refusal passes on
    with its status and words (409: connect the provider; 404: not its host)."""
    keeper: SecretKeeper = request.app.state.secret
    try:
        return await asyncio.to_thread(Gateway(settings, keeper).credential, query)
    except GatewayRefused as refused:
        return JSONResponse(refused.body, status_code=refused.status)


def bind_local_socket(settings: AgentSettings) -> Any | None:
    """The helper's Unix socket (mode 0600), or None where it cannot be made (logged)."""
    import socket

    path = settings.runtime_dir / SOCKET_NAME
    try:
        settings.runtime_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(str(path))
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
    except OSError as exc:
        log.warning("no credential helper socket at %s: %s", path, exc)
        return None
    sock.set_inheritable(True)
    return sock
