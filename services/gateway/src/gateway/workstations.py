"""The workstations' own way into the gateway: their agents call ``/agent/...`` (for now: git
credentials), authenticating with a token derived from the instance's agent secret, which the
gateway checks against the provisioner's record of the instance (``rpc.instance.endpoint``, the
proxies' lookup).

Those routes answer on a listener of their own when ``AGENT_PORT`` is set (the address
workstations reach, never the public one), and nowhere else; the public port then knows nothing
of them, and the workstations' port nothing but them and ``/healthz``.
"""

from __future__ import annotations

import hmac
import json
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header
from starlette.types import ASGIApp, Receive, Scope, Send

from claudecloud_agentapi import gateway_token
from claudecloud_common.contracts.instances import InstanceEndpoint, InstanceStatus

from .deps import StateDep
from .git.errors import AgentNotRecognised
from .instances.errors import InstanceNotFound

AGENT_PREFIX = "/agent/"
_NOT_HERE = json.dumps({"error": "NotFound", "detail": "no such route here"}).encode()


class WorkstationListener:
    """Keep ``/agent/...`` on the workstations' port and everything else off it."""

    def __init__(self, app: ASGIApp, *, port: int | None) -> None:
        self.app = app
        self.port = port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.port is not None and scope["type"] == "http" and not self._belongs(scope):
            await send(
                {
                    "type": "http.response.start",
                    "status": 404,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": _NOT_HERE})
            return
        await self.app(scope, receive, send)

    def _belongs(self, scope: Scope) -> bool:
        server = scope.get("server") or (None, None)
        on_agent_port = server[1] == self.port
        path: str = scope["path"]
        if on_agent_port:
            return path.startswith(AGENT_PREFIX) or path == "/healthz"
        return not path.startswith(AGENT_PREFIX)


def _bearer(authorization: str | None) -> str | None:
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None


async def calling_agent(
    instance_id: UUID,
    state: StateDep,
    authorization: Annotated[str | None, Header()] = None,
) -> InstanceEndpoint:
    """The running instance whose agent this is, or :class:`AgentNotRecognised`: the token must
    be the one derived from the secret the provisioner gave that instance (asked again once, in
    case it was just made anew); the machine keeps that token, never the secret
    (``AgentCredential``). An unknown instance and a wrong token look the same."""
    presented = _bearer(authorization)
    if presented is None:
        raise AgentNotRecognised("send the instance's agent token as 'Authorization: Bearer'")
    for fresh in (False, True):
        if fresh:
            state.agent_endpoints.forget(instance_id)
        try:
            endpoint = await state.agent_endpoints.lookup(instance_id)
        except InstanceNotFound:
            break
        secret = endpoint.agent_secret
        if (
            endpoint.status is InstanceStatus.RUNNING
            and secret is not None
            and hmac.compare_digest(
                presented.encode(), gateway_token(secret.get_secret_value()).encode()
            )
        ):
            return endpoint
    raise AgentNotRecognised("this is not the running agent of that instance")


CallingAgent = Annotated[InstanceEndpoint, Depends(calling_agent)]
