"""The agent's one credential: the per-instance secret, compared in constant time.

A caller sends it as ``Authorization: Bearer <secret>`` or, equivalently, ``X-Agent-Secret:
<secret>``, on HTTP requests and WebSocket upgrades alike. Anything else is a 401 (an HTTP
request) or a refused upgrade (a WebSocket). The secret is read from the secret file (the
provider writes it before the machine starts), else ``AGENT_SECRET``; ``PUT /secret`` replaces
it, in the file first, so the agent started again keeps the new one.
"""

from __future__ import annotations

import hmac
import os
import secrets as random
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Header, Request, WebSocket, WebSocketException, status
from pydantic import SecretStr

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
    """The secret now, and its replacement."""

    def __init__(self, settings: AgentSettings) -> None:
        self.file = settings.secret_file
        self._secret = _read(self.file) or settings.secret
        self._instance_file = self.file.with_name("instance-id")
        found = _read(self._instance_file)
        self.instance_id = found.get_secret_value() if found else settings.instance_id
        """The instance this machine is (a claimed pool machine learns it with its secret)."""
        if self._secret is None:
            raise RuntimeError(f"no agent secret: neither {self.file} nor AGENT_SECRET holds one")

    @property
    def current(self) -> SecretStr:
        """The secret as it is now (the agent presents it to the gateway: agent.git)."""
        assert self._secret is not None
        return self._secret

    def valid(self, given: str | None) -> bool:
        expected = self._secret.get_secret_value().encode() if self._secret else b""
        return given is not None and hmac.compare_digest(given.encode(), expected)

    def replace(self, new: SecretStr, instance_id: str | None = None) -> None:
        """Write the new secret (and the instance it now is), atomically, readable by this user
        only; then use them."""
        if instance_id is not None:
            _write(self._instance_file, instance_id)
            self.instance_id = instance_id
        _write(self.file, new.get_secret_value())
        self._secret = new


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
