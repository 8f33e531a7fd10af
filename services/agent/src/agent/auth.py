"""The agent's one credential: the per-instance secret, checked in constant time.

A caller sends it as ``Authorization: Bearer <secret>`` or, equivalently, ``X-Agent-Secret:
<secret>``, on HTTP requests and WebSocket upgrades alike. Anything else is a 401 (an HTTP
request) or a refused upgrade (a WebSocket). The agent holds no secret, only what the machine
keeps of it (:class:`~claudecloud_agentapi.AgentCredential`: a verifier and the token it names
itself with to the gateway), since the user's processes run as its uid and could read anything
it reads. The credential is read from the secret file (the provider writes it before the machine
starts), else ``AGENT_SECRET``; ``PUT /secret`` replaces it, in the file first, so the agent
started again keeps the new one.
"""

from __future__ import annotations

import contextlib
import os
import secrets as random
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Header, Request, WebSocket, WebSocketException, status
from pydantic import SecretStr

from claudecloud_agentapi import AgentCredential

from .errors import Unauthorized
from .settings import AgentSettings


def presented_secret(authorization: str | None, x_agent_secret: str | None) -> str | None:
    if x_agent_secret:
        return x_agent_secret
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value:
            return value.strip()
    return None


class SecretKeeper:
    """What the machine keeps of the secret now, and its replacement."""

    def __init__(self, settings: AgentSettings) -> None:
        self.file = settings.secret_file
        in_file = _read(self.file)
        kept = in_file or settings.secret
        self._instance_file = self.file.with_name("instance-id")
        found = _read(self._instance_file)
        self.instance_id = found.get_secret_value() if found else settings.instance_id
        """The instance this machine is (a claimed pool machine learns it with its secret)."""
        if kept is None:
            raise RuntimeError(f"no agent secret: neither {self.file} nor AGENT_SECRET holds one")
        self._credential = AgentCredential.parse(kept.get_secret_value())
        if in_file is not None and in_file.get_secret_value() != self._credential.dump():
            with contextlib.suppress(OSError):  # an older machine's file held the secret itself
                _write(self.file, self._credential.dump())

    @property
    def current(self) -> SecretStr:
        """What the agent presents to the gateway (agent.git): derived from the secret."""
        return SecretStr(self._credential.token)

    def valid(self, given: str | None) -> bool:
        return given is not None and self._credential.accepts(given)

    def replace(self, new: SecretStr, instance_id: str | None = None) -> None:
        """Keep what the new secret gives (and the instance it now is), atomically, readable
        by this user only; then use them. The secret itself is written nowhere."""
        if instance_id is not None:
            _write(self._instance_file, instance_id)
            self.instance_id = instance_id
        credential = AgentCredential.of(new.get_secret_value())
        _write(self.file, credential.dump())
        self._credential = credential


def _write(path: Path, text: str) -> None:
    draft = path.with_name(f".{path.name}.{random.token_hex(6)}")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(draft, path)


def _read(path: Path) -> SecretStr | None:
    try:
        found = path.read_text().strip()
    except OSError:
        return None
    return SecretStr(found) if found else None


def _valid(keeper: SecretKeeper, given: str | None) -> bool:
    return keeper.valid(given)


async def require_secret(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_agent_secret: Annotated[str | None, Header()] = None,
) -> None:
    """Refuse the request unless it carries this instance's secret."""
    if not _valid(request.app.state.secret, presented_secret(authorization, x_agent_secret)):
        raise Unauthorized("send the agent secret as 'Authorization: Bearer <secret>'")


async def require_secret_ws(
    websocket: WebSocket,
    authorization: Annotated[str | None, Header()] = None,
    x_agent_secret: Annotated[str | None, Header()] = None,
) -> None:
    """Refuse the WebSocket upgrade unless it carries this instance's secret."""
    if not _valid(websocket.app.state.secret, presented_secret(authorization, x_agent_secret)):
        raise WebSocketException(status.WS_1008_POLICY_VIOLATION, "agent secret required")


Authenticated = Depends(require_secret)
AuthenticatedSocket = Depends(require_secret_ws)
