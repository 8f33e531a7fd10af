"""A typed async client for the Netbird Management API: groups, setup keys, routes, policies,
peers. One request helper (:meth:`NetbirdClient.request`) does the authorisation header, JSON
and the error mapping; every method is one documented operation of ``netbird-openapi.yml``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, TypeAdapter

from .errors import NetbirdAPIError

__all__ = [
    "Group",
    "NetbirdClient",
    "Peer",
    "Policy",
    "Route",
    "SetupKey",
    "SetupKeyClear",
]

T = TypeVar("T")


class _Answer(BaseModel):
    """Netbird's objects carry more than we read; the rest is ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Peer(_Answer):
    id: str
    name: str
    ip: str | None = None
    connected: bool | None = None


class Group(_Answer):
    id: str
    name: str
    peers_count: int = 0
    peers: list[Peer] = []


class SetupKey(_Answer):
    """A setup key as listed: its ``key`` is masked."""

    id: str
    name: str
    type: str
    expires: datetime
    valid: bool
    revoked: bool
    used_times: int
    state: str
    auto_groups: list[str]


class SetupKeyClear(SetupKey):
    """A setup key as created: the only time Netbird shows ``key`` in clear."""

    key: SecretStr


class Route(_Answer):
    id: str
    network_id: str
    description: str
    network: str | None = None
    enabled: bool


class Policy(_Answer):
    id: str | None = None
    name: str
    enabled: bool


class NetbirdClient:
    """The Management API at ``base_url``, authorised with a personal access token."""

    def __init__(
        self,
        base_url: str,
        token: SecretStr,
        *,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Token {token.get_secret_value()}"},
            timeout=timeout,
            transport=transport,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        answer: type[T] | None = None,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> T | None:
        """Call ``method path``; parse a 2xx body as ``answer``; raise :class:`NetbirdAPIError`
        with Netbird's status and message otherwise (status 0: no answer at all)."""
        try:
            response = await self._http.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise NetbirdAPIError(0, f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if response.is_error:
            raise NetbirdAPIError(response.status_code, _message(response))
        if answer is None:
            return None
        return TypeAdapter(answer).validate_json(response.content)

    async def _must(self, method: str, path: str, answer: type[T], **kw: Any) -> T:
        found = await self.request(method, path, answer, **kw)
        assert found is not None
        return found

    # Groups

    async def create_group(self, name: str) -> Group:
        return await self._must("POST", "/api/groups", Group, json={"name": name, "peers": []})

    async def find_groups(self, name: str) -> list[Group]:
        """Groups called exactly ``name``."""
        return await self._must("GET", "/api/groups", list[Group], params={"name": name})

    async def get_group(self, group_id: str) -> Group:
        return await self._must("GET", f"/api/groups/{group_id}", Group)

    async def delete_group(self, group_id: str) -> None:
        await self.request("DELETE", f"/api/groups/{group_id}")

    # Setup keys

    async def create_setup_key(
        self, name: str, *, groups: list[str], expires_in: int, usage_limit: int = 1
    ) -> SetupKeyClear:
        """A key that enrols ``usage_limit`` peers (one: a one-off key) into ``groups``."""
        body = {
            "name": name,
            "type": "one-off" if usage_limit == 1 else "reusable",
            "expires_in": expires_in,
            "auto_groups": groups,
            "usage_limit": usage_limit,
            "ephemeral": False,
        }
        return await self._must("POST", "/api/setup-keys", SetupKeyClear, json=body)

    async def list_setup_keys(self) -> list[SetupKey]:
        return await self._must("GET", "/api/setup-keys", list[SetupKey])

    async def delete_setup_key(self, key_id: str) -> None:
        await self.request("DELETE", f"/api/setup-keys/{key_id}")

    # Routes

    async def create_route(
        self, *, network_id: str, description: str, network: str, group_id: str
    ) -> Route:
        """Route ``network`` through the peers of ``group_id`` to the peers of ``group_id``."""
        body = {
            "id": "",  # the document requires it in a request; Netbird assigns the route's id
            "network_id": network_id,
            "description": description,
            "network": network,
            "enabled": True,
            "peer_groups": [group_id],
            "groups": [group_id],
            "metric": 9999,
            "masquerade": True,
            "keep_route": True,
        }
        return await self._must("POST", "/api/routes", Route, json=body)

    async def list_routes(self) -> list[Route]:
        return await self._must("GET", "/api/routes", list[Route])

    async def delete_route(self, route_id: str) -> None:
        await self.request("DELETE", f"/api/routes/{route_id}")

    # Policies

    async def create_policy(self, name: str, *, group_id: str) -> Policy:
        """Allow all traffic both ways between the peers of ``group_id``."""
        rule = {
            "name": name,
            "enabled": True,
            "action": "accept",
            "bidirectional": True,
            "protocol": "all",
            "sources": [group_id],
            "destinations": [group_id],
        }
        body = {"name": name, "enabled": True, "description": name, "rules": [rule]}
        return await self._must("POST", "/api/policies", Policy, json=body)

    async def list_policies(self) -> list[Policy]:
        return await self._must("GET", "/api/policies", list[Policy])

    async def delete_policy(self, policy_id: str) -> None:
        await self.request("DELETE", f"/api/policies/{policy_id}")

    # Peers

    async def list_peers(self, *, name: str | None = None) -> list[Peer]:
        params = {"name": name} if name else None
        return await self._must("GET", "/api/peers", list[Peer], params=params)

    async def delete_peer(self, peer_id: str) -> None:
        await self.request("DELETE", f"/api/peers/{peer_id}")


def _message(response: httpx.Response) -> str:
    """Netbird's ``{"message": ..., "code": ...}``, or the start of whatever it sent."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return response.text[:200]
