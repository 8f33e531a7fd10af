"""The agent's one credential: the per-instance secret, compared in constant time.

A caller sends it as ``Authorization: Bearer <secret>`` or, equivalently, ``X-Agent-Secret:
<secret>``, on HTTP requests and WebSocket upgrades alike. Anything else is a 401 (an HTTP
request) or a refused upgrade (a WebSocket).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request, WebSocket, WebSocketException, status

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


def _valid(settings: AgentSettings, given: str | None) -> bool:
    expected = settings.secret.get_secret_value().encode()
    return given is not None and hmac.compare_digest(given.encode(), expected)


async def require_secret(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_agent_secret: Annotated[str | None, Header()] = None,
) -> None:
    """Refuse the request unless it carries this instance's secret."""
    if not _valid(request.app.state.settings, presented_secret(authorization, x_agent_secret)):
        raise Unauthorized("send the agent secret as 'Authorization: Bearer <secret>'")


async def require_secret_ws(
    websocket: WebSocket,
    authorization: Annotated[str | None, Header()] = None,
    x_agent_secret: Annotated[str | None, Header()] = None,
) -> None:
    """Refuse the WebSocket upgrade unless it carries this instance's secret."""
    if not _valid(websocket.app.state.settings, presented_secret(authorization, x_agent_secret)):
        raise WebSocketException(status.WS_1008_POLICY_VIOLATION, "agent secret required")


Authenticated = Depends(require_secret)
AuthenticatedSocket = Depends(require_secret_ws)
