"""A local Netbird Management API that follows Netbird's OpenAPI document and keeps state.

Every request is checked against ``netbird-openapi.yml`` (``openapi.py``) before it is handled:
the path must be one of the document's paths, the method one of its operations, the
``Authorization`` header a token, and the JSON body valid against the operation's request schema.
Anything else is refused (400, 404 or 405, Netbird's ``{"message", "code"}``) and remembered in
:attr:`FakeNetbird.refused`. Every answer is checked against the operation's response schema too;
one that does not match is remembered in :attr:`FakeNetbird.violations` (a bug in this fake).

It behaves like Netbird where the saga depends on it: a group linked to a route, a policy or a
setup key cannot be deleted; a one-off setup key enrols one peer; unknown ids answer 404. Tests
inject failures (:meth:`fail`) and hold a call mid-way (:meth:`hold`) to crash a caller there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.openapi import spec
from tests.support import eventually, free_port

NEVER = "0001-01-01T00:00:00Z"
FAKE_TOKEN = "nbp_fake_token"


@dataclass
class Fault:
    status: int
    times: int
    message: str


@dataclass
class Hold:
    """A call held mid-way: ``arrived`` is set when it comes, it goes on once ``released``."""

    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Call:
    method: str
    template: str
    path: str
    status: int


class NetbirdError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class FakeNetbird:
    """The fake's state, its checks and its HTTP app."""

    def __init__(self, token: str = FAKE_TOKEN) -> None:
        self.token = token
        self.groups: dict[str, dict[str, Any]] = {}
        self.setup_keys: dict[str, dict[str, Any]] = {}
        self.key_secrets: dict[str, str] = {}
        self.routes: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, dict[str, Any]] = {}
        self.peers: dict[str, dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.refused: list[str] = []
        self.violations: list[str] = []
        self.faults: dict[tuple[str, str], Fault] = {}
        self.holds: dict[tuple[str, str], Hold] = {}
        self.latency: dict[tuple[str, str], float] = {}
        self.app: Starlette = Starlette(
            routes=[
                Route("/_fake/healthz", _healthz),
                Route("/{path:path}", self._handle, methods=_METHODS),
            ]
        )

    # What tests use

    def fail(self, method: str, template: str, *, status: int = 500, times: int = 1_000) -> None:
        """Answer ``method template`` with ``status`` the next ``times`` times."""
        self.faults[(method, template)] = Fault(status, times, f"injected failure ({status})")

    def slow(self, method: str, template: str, seconds: float) -> None:
        """Answer every ``method template`` call ``seconds`` late (a slow Netbird)."""
        self.latency[(method, template)] = seconds

    def hold(self, method: str, template: str) -> Hold:
        """Hold the next ``method template`` call until released."""
        held = self.holds[(method, template)] = Hold()
        return held

    def clear_faults(self) -> None:
        self.faults.clear()

    def count(self, method: str, template: str) -> int:
        return sum(1 for c in self.calls if (c.method, c.template) == (method, template))

    def resources(self) -> dict[str, int]:
        return {
            "groups": len(self.groups),
            "setup_keys": len(self.setup_keys),
            "routes": len(self.routes),
            "policies": len(self.policies),
            "peers": len(self.peers),
        }

    def enrol(self, key: str, hostname: str) -> dict[str, Any]:
        """What a server does with its setup key on first boot: become a peer in its groups."""
        key_id = next((i for i, k in self.key_secrets.items() if k == key), None)
        found = self.setup_keys.get(key_id or "")
        if found is None or not _key_valid(found):
            raise NetbirdError(400, "invalid setup key")
        found["used_times"] += 1
        found["last_used"] = _now()
        found["valid"], found["state"] = _key_valid(found), _key_state(found)
        peer = _peer(_id(), hostname, [self.groups[g] for g in found["auto_groups"]])
        self.peers[peer["id"]] = peer
        for group_id in found["auto_groups"]:
            self.groups[group_id]["peers"].append({"id": peer["id"], "name": hostname})
            self.groups[group_id]["peers_count"] += 1
        return peer

    def expire(self, key_id: str) -> None:
        self.setup_keys[key_id]["expires"] = _now(-timedelta(seconds=1))

    # The HTTP edge

    async def _handle(self, request: Request) -> Response:
        path, method = request.url.path, request.method
        found = spec().operation(method, path)
        if isinstance(found, int):
            return self._refuse(found, f"{method} {path}: not in the document")
        template, operation = found
        if request.headers.get("authorization") != f"Token {self.token}":
            return self._refuse(401, f"{method} {path}: no valid token", template)
        body = await self._body(request, operation, method, path)
        if isinstance(body, Response):
            return body
        status, answer = await self._answer(method, template, path, request, body)
        self.calls.append(Call(method, template, path, status))
        return self._respond(operation, status, answer, f"{method} {template}")

    async def _body(
        self, request: Request, operation: dict[str, Any], method: str, path: str
    ) -> Any:
        schema = spec().request_schema(operation)
        raw = await request.body()
        if schema is None:
            if raw:
                return self._refuse(400, f"{method} {path}: the document takes no body")
            return None
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return self._refuse(400, f"{method} {path}: body must be application/json")
        try:
            body = json.loads(raw)
        except ValueError:
            return self._refuse(400, f"{method} {path}: body is not JSON")
        problems = spec().validate(schema, body)
        if problems:
            return self._refuse(400, f"{method} {path}: {'; '.join(problems)}")
        return body

    async def _answer(
        self, method: str, template: str, path: str, request: Request, body: Any
    ) -> tuple[int, Any]:
        held = self.holds.pop((method, template), None)
        if held is not None:
            held.arrived.set()
            await held.released.wait()
        late = self.latency.get((method, template))
        if late:
            await asyncio.sleep(late)
        fault = self.faults.get((method, template))
        if fault is not None and fault.times > 0:
            fault.times -= 1
            return fault.status, {"message": fault.message, "code": fault.status}
        handler = _HANDLERS.get((method, template))
        if handler is None:
            return 501, {"message": f"the fake does not implement {method} {template}", "code": 501}
        ids = [p for p, t in zip(path.split("/"), template.split("/"), strict=True) if t[:1] == "{"]
        try:
            return 200, handler(self, *ids, body=body, query=dict(request.query_params))
        except NetbirdError as exc:
            return exc.status, {"message": exc.message, "code": exc.status}

    def _refuse(self, status: int, why: str, template: str = "?") -> Response:
        self.refused.append(why)
        return JSONResponse({"message": why, "code": status}, status_code=status)

    def _respond(self, operation: dict[str, Any], status: int, answer: Any, what: str) -> Response:
        if status == 200:
            schema = spec().response_schema(operation, status)
            if schema is not None:
                self.violations += [f"{what}: {p}" for p in spec().validate(schema, answer)]
            elif answer is not None:
                self.violations.append(f"{what}: the document says this answer has no body")
        if answer is None:
            return Response(status_code=status)
        return JSONResponse(answer, status_code=status)

    # Operations

    def _group(self, group_id: str) -> dict[str, Any]:
        if group_id not in self.groups:
            raise NetbirdError(404, f"group {group_id} not found")
        return self.groups[group_id]

    def list_groups(self, *, body: Any, query: dict[str, str]) -> list[dict[str, Any]]:
        name = query.get("name")
        return [g for g in self.groups.values() if name is None or g["name"] == name]

    def create_group(self, *, body: Any, query: dict[str, str]) -> dict[str, Any]:
        group = {
            "id": _id(),
            "name": body["name"],
            "peers_count": 0,
            "resources_count": 0,
            "issued": "api",
            "peers": [],
            "resources": [],
        }
        self.groups[group["id"]] = group
        return group

    def get_group(self, group_id: str, *, body: Any, query: dict[str, str]) -> dict[str, Any]:
        return self._group(group_id)

    def delete_group(self, group_id: str, *, body: Any, query: dict[str, str]) -> None:
        self._group(group_id)
        linked = [
            f"route {r['id']}" for r in self.routes.values() if group_id in _route_groups(r)
        ] + [f"policy {p['id']}" for p in self.policies.values() if group_id in _policy_groups(p)]
        linked += [
            f"setup key {k['id']}" for k in self.setup_keys.values() if group_id in k["auto_groups"]
        ]
        if linked:
            raise NetbirdError(400, f"group has been linked to {', '.join(linked)}")
        del self.groups[group_id]

    def list_keys(self, *, body: Any, query: dict[str, str]) -> list[dict[str, Any]]:
        return [_refreshed(k) for k in self.setup_keys.values()]

    def create_key(self, *, body: Any, query: dict[str, str]) -> dict[str, Any]:
        for group_id in body["auto_groups"]:
            self._group(group_id)
        secret = str(secrets.token_hex(16)).upper()
        key = {
            "id": _id(),
            "key": secret[:5] + "****",
            "name": body["name"],
            "expires": _now(timedelta(seconds=body["expires_in"])),
            "type": body["type"],
            "valid": True,
            "revoked": False,
            "used_times": 0,
            "last_used": NEVER,
            "state": "valid",
            "auto_groups": list(body["auto_groups"]),
            "updated_at": _now(),
            "usage_limit": body["usage_limit"],
            "ephemeral": body.get("ephemeral", False),
            "allow_extra_dns_labels": body.get("allow_extra_dns_labels", False),
        }
        self.setup_keys[key["id"]] = key
        self.key_secrets[key["id"]] = secret
        return {**key, "key": secret}

    def delete_key(self, key_id: str, *, body: Any, query: dict[str, str]) -> None:
        if self.setup_keys.pop(key_id, None) is None:
            raise NetbirdError(404, f"setup key {key_id} not found")
        self.key_secrets.pop(key_id, None)

    def list_routes(self, *, body: Any, query: dict[str, str]) -> list[dict[str, Any]]:
        return list(self.routes.values())

    def create_route(self, *, body: Any, query: dict[str, str]) -> dict[str, Any]:
        if "peer" in body and "peer_groups" in body:
            raise NetbirdError(400, "peer and peer_groups cannot be set together")
        for group_id in _route_groups(body):
            self._group(group_id)
        route = {**body, "id": _id(), "network_type": "IPv4"}  # the body's id means nothing
        self.routes[route["id"]] = route
        return route

    def delete_route(self, route_id: str, *, body: Any, query: dict[str, str]) -> None:
        if self.routes.pop(route_id, None) is None:
            raise NetbirdError(404, f"route {route_id} not found")

    def list_policies(self, *, body: Any, query: dict[str, str]) -> list[dict[str, Any]]:
        return [self._policy_view(p) for p in self.policies.values()]

    def create_policy(self, *, body: Any, query: dict[str, str]) -> dict[str, Any]:
        for group_id in _policy_groups(body):
            self._group(group_id)
        policy = {"source_posture_checks": [], **body, "id": _id()}
        policy["rules"] = [{"id": _id(), **rule} for rule in body["rules"]]
        self.policies[policy["id"]] = policy
        return self._policy_view(policy)

    def delete_policy(self, policy_id: str, *, body: Any, query: dict[str, str]) -> None:
        if self.policies.pop(policy_id, None) is None:
            raise NetbirdError(404, f"policy {policy_id} not found")

    def _policy_view(self, policy: dict[str, Any]) -> dict[str, Any]:
        def minimum(group_id: str) -> dict[str, Any]:
            group = self.groups.get(group_id, {"name": "(deleted)", "peers_count": 0})
            return {
                "id": group_id,
                "name": group["name"],
                "peers_count": group["peers_count"],
                "resources_count": 0,
            }

        rules = [
            {
                **rule,
                "sources": [minimum(g) for g in rule.get("sources", [])],
                "destinations": [minimum(g) for g in rule.get("destinations", [])],
            }
            for rule in policy["rules"]
        ]
        return {**policy, "rules": rules}

    def list_peers(self, *, body: Any, query: dict[str, str]) -> list[dict[str, Any]]:
        name = query.get("name")
        return [
            {**p, "accessible_peers_count": 0}
            for p in self.peers.values()
            if name is None or p["name"] == name
        ]

    def delete_peer(self, peer_id: str, *, body: Any, query: dict[str, str]) -> None:
        if self.peers.pop(peer_id, None) is None:
            raise NetbirdError(404, f"peer {peer_id} not found")
        for group in self.groups.values():
            group["peers"] = [p for p in group["peers"] if p["id"] != peer_id]
            group["peers_count"] = len(group["peers"])


_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


async def _healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


_HANDLERS: dict[tuple[str, str], Any] = {
    ("GET", "/api/groups"): FakeNetbird.list_groups,
    ("POST", "/api/groups"): FakeNetbird.create_group,
    ("GET", "/api/groups/{groupId}"): FakeNetbird.get_group,
    ("DELETE", "/api/groups/{groupId}"): FakeNetbird.delete_group,
    ("GET", "/api/setup-keys"): FakeNetbird.list_keys,
    ("POST", "/api/setup-keys"): FakeNetbird.create_key,
    ("DELETE", "/api/setup-keys/{keyId}"): FakeNetbird.delete_key,
    ("GET", "/api/routes"): FakeNetbird.list_routes,
    ("POST", "/api/routes"): FakeNetbird.create_route,
    ("DELETE", "/api/routes/{routeId}"): FakeNetbird.delete_route,
    ("GET", "/api/policies"): FakeNetbird.list_policies,
    ("POST", "/api/policies"): FakeNetbird.create_policy,
    ("DELETE", "/api/policies/{policyId}"): FakeNetbird.delete_policy,
    ("GET", "/api/peers"): FakeNetbird.list_peers,
    ("DELETE", "/api/peers/{peerId}"): FakeNetbird.delete_peer,
}


def _id() -> str:
    return secrets.token_hex(10)


def _now(offset: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) + offset).isoformat().replace("+00:00", "Z")


def _key_valid(key: dict[str, Any]) -> bool:
    return _key_state(key) == "valid"


def _key_state(key: dict[str, Any]) -> str:
    if key["revoked"]:
        return "revoked"
    if datetime.fromisoformat(key["expires"].replace("Z", "+00:00")) <= datetime.now(UTC):
        return "expired"
    if key["usage_limit"] and key["used_times"] >= key["usage_limit"]:
        return "overused"
    return "valid"


def _refreshed(key: dict[str, Any]) -> dict[str, Any]:
    return {**key, "state": _key_state(key), "valid": _key_valid(key)}


def _route_groups(route: dict[str, Any]) -> set[str]:
    return set(route.get("groups", [])) | set(route.get("peer_groups", []))


def _policy_groups(policy: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for rule in policy["rules"]:
        for group in [*rule.get("sources", []), *rule.get("destinations", [])]:
            found.add(group if isinstance(group, str) else group["id"])
    return found


def _peer(peer_id: str, hostname: str, groups: list[dict[str, Any]]) -> dict[str, Any]:
    minimum = [
        {
            "id": g["id"],
            "name": g["name"],
            "peers_count": g["peers_count"] + 1,
            "resources_count": 0,
        }
        for g in groups
    ]
    return {
        "id": peer_id,
        "name": hostname,
        "created_at": _now(),
        "ip": f"100.64.{len(groups)}.{secrets.randbelow(250) + 1}",
        "connection_ip": "203.0.113.10",
        "connected": True,
        "last_seen": _now(),
        "os": "Linux",
        "kernel_version": "6.8.0",
        "geoname_id": 0,
        "version": "0.36.0",
        "groups": minimum,
        "ssh_enabled": False,
        "user_id": "",
        "hostname": hostname,
        "ui_version": "",
        "dns_label": f"{hostname}.netbird.cloud",
        "login_expiration_enabled": False,
        "login_expired": False,
        "last_login": _now(),
        "inactivity_expiration_enabled": False,
        "approval_required": False,
        "country_code": "DE",
        "city_name": "Falkenstein",
        "serial_number": "",
        "extra_dns_labels": [],
        "ephemeral": False,
    }


@contextlib.asynccontextmanager
async def serve_fake(fake: FakeNetbird | None = None) -> AsyncIterator[tuple[FakeNetbird, str]]:
    """Serve a fake (a new one unless given) on a free port of this event loop; yields it and
    its base URL."""
    fake = fake or FakeNetbird()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            fake.app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=5,  # a call a killed client left behind ends no later
        )
    )
    task = asyncio.create_task(server.serve())

    def listening() -> bool:
        if task.done():
            task.result()  # it stopped before listening: say why
        return server.started

    await eventually(listening, timeout=30, what="the fake Netbird listening")
    try:
        yield fake, f"http://127.0.0.1:{port}"
    finally:
        for held in fake.holds.values():
            held.released.set()
        server.should_exit = True
        await task


if __name__ == "__main__":  # a process of its own (the benchmark): python -m tests.fakes.netbird
    import argparse

    parser = argparse.ArgumentParser(description="A fake Netbird Management API")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", default=FAKE_TOKEN)
    args = parser.parse_args()
    uvicorn.run(FakeNetbird(args.token).app, host="127.0.0.1", port=args.port, log_level="warning")
