"""The agent's one credential: the per-instance secret, compared in constant time.

A caller sends it as ``Authorization: Bearer <secret>`` or, equivalently, ``X-Agent-Secret:
<secret>``. Anything else is a 401 that says which headers are accepted.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request

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


async def require_secret(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_agent_secret: Annotated[str | None, Header()] = None,
) -> None:
    """Refuse the request unless it carries this instance's secret."""
    settings: AgentSettings = request.app.state.settings
    given = presented_secret(authorization, x_agent_secret)
    expected = settings.secret.get_secret_value().encode()
    if given is None or not hmac.compare_digest(given.encode(), expected):
        raise Unauthorized("send the agent secret as 'Authorization: Bearer <secret>'")


Authenticated = Depends(require_secret)
