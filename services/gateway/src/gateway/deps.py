"""Request dependencies: settings, the bus-backed services, and who is calling."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from .errors import InvalidCredentials, MissingCredentials
from .events import EventHub
from .service import InstanceGateway
from .settings import GatewaySettings


@dataclass(frozen=True)
class Caller:
    """Who is calling: an operator with the admin key, or (later) a signed-in user."""

    is_admin: bool
    user_id: UUID | None = None


def get_settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


def get_instances(request: Request) -> InstanceGateway:
    instances: InstanceGateway = request.app.state.instances
    return instances


def get_hub(request: Request) -> EventHub:
    hub: EventHub = request.app.state.hub
    return hub


_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="Operator API key")


def get_caller(
    settings: Annotated[GatewaySettings, Depends(get_settings)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Caller:
    if not api_key:
        raise MissingCredentials("missing API key")
    expected = settings.admin_api_key
    if expected is None or not hmac.compare_digest(
        api_key.encode(), expected.get_secret_value().encode()
    ):
        raise InvalidCredentials("invalid API key")
    return Caller(is_admin=True)


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
InstancesDep = Annotated[InstanceGateway, Depends(get_instances)]
HubDep = Annotated[EventHub, Depends(get_hub)]
CallerDep = Annotated[Caller, Depends(get_caller)]
