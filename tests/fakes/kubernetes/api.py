"""A stand-in Kubernetes API server that serves only what the kubernetes provider calls, checks
every request against the Kubernetes OpenAPI document, and answers in the API's shapes.

Checked (``document.py``): the path and method are an operation of the document, the query names
only that operation's parameters, the body matches its schema strictly (an unknown field is an
error, as with ``fieldValidation=Strict``), the object's namespace is the path's, and the caller
presents the bearer token. Anything else is refused as the API server would (a ``Status``) and
remembered in :attr:`FakeKubernetes.refused`; an operation of the document this stand-in does
not serve answers 501 and is remembered there too. Every answer is checked against the
operation's response schema (:attr:`violations`: a bug in this stand-in).

It keeps objects with resource versions and uids, answers 409 ``AlreadyExists`` to a create of
an existing name and ``Conflict`` to a replace of a stale version, 404 ``NotFound``; list filters
by label selector; watch streams ``ADDED``/``MODIFIED``/``DELETED`` from a resource version, ends
after ``timeoutSeconds`` (or when a test says: :attr:`end_watches_after`), and answers an
``ERROR`` 410 when a test expires versions (:meth:`expire_versions`). Pods are run by the
stand-in kubelet (``kubelet.py``). :attr:`verbs` records every (resource, verb) as RBAC names
them, which the provisioner's Role must match exactly.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .document import Operation, document

TOKEN = "stand-in-token"
RBAC_VERBS = {"post": "create", "put": "update", "get": "get", "list": "list", "delete": "delete"}
SERVED = {"pods", "persistentvolumeclaims", "secrets", "networkpolicies"}


@dataclass
class Change:
    version: int
    kind: str  # ADDED, MODIFIED, DELETED
    plural: str
    obj: dict[str, Any]


@dataclass
class Hold:
    """A call held before it is served: ``arrived`` is set when it comes, it goes on once
    ``released``."""

    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Watcher:
    plural: str
    namespace: str
    match: Callable[[dict[str, Any]], bool]
    queue: asyncio.Queue[Change] = field(default_factory=asyncio.Queue)


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


class FakeKubernetes:
    """The store, its checks and its HTTP app. ``on_change`` (the kubelet) hears every change."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.changes: list[Change] = []
        self.watchers: list[Watcher] = []
        self.version = 100
        self.verbs: set[tuple[str, str]] = set()
        self.refused: list[str] = []
        self.violations: list[str] = []
        self.requests: list[str] = []
        self.answered: list[tuple[str, str, int]] = []
        """(verb, resource, status) of every request served."""
        self.received: list[dict[str, Any]] = []
        """Every object the provider sent (create, replace), as sent."""
        self.holds: dict[tuple[str, str], Hold] = {}
        self.watches_ended = 0
        self.end_watches_after: int | None = None
        """End every watch after this many events (None: only at its timeout)."""
        self._expired_once = False
        self.expired_answered = 0
        self.on_change: list[Callable[[Change], None]] = []
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=_METHODS)])

    # What tests and the kubelet use

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((plural, namespace, name))

    def all(self, plural: str) -> list[dict[str, Any]]:
        return [o for (p, _, _), o in self.objects.items() if p == plural]

    def put(self, plural: str, obj: dict[str, Any], kind: str = "MODIFIED") -> dict[str, Any]:
        """Store ``obj`` at a new resource version and tell the watchers."""
        self.version += 1
        meta = obj["metadata"]
        meta["resourceVersion"] = str(self.version)
        meta.setdefault("uid", str(uuid.uuid4()))  # as made by someone else: a test
        meta.setdefault("creationTimestamp", _now())
        self.objects[(plural, meta["namespace"], meta["name"])] = obj
        self._announce(Change(self.version, kind, plural, obj))
        return obj

    def remove(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        obj = self.objects.pop((plural, namespace, name), None)
        if obj is not None:
            self.version += 1
            obj["metadata"]["resourceVersion"] = str(self.version)
            self._announce(Change(self.version, "DELETED", plural, obj))
        return obj

    def delete(self, plural: str, namespace: str, name: str) -> None:
        """Delete as ``kubectl delete`` would (a pod gracefully, through its kubelet)."""
        current = self.get(plural, namespace, name)
        if current is not None:
            self._delete(plural, current, {})

    def hold(self, verb: str, plural: str) -> Hold:
        """Hold the next ``verb`` of ``plural`` (``create``, ``pods``) until released."""
        held = self.holds[(verb, plural)] = Hold()
        return held

    def count(self, verb: str, plural: str, status: int | None = None) -> int:
        return sum(
            1 for v, p, s in self.answered if (v, p) == (verb, plural) and status in (None, s)
        )

    def expire_versions(self) -> None:
        """The next watch from a resource version answers 410 Gone (etcd compacted it)."""
        self._expired_once = True

    def _announce(self, change: Change) -> None:
        # What was sent is what the object was then, whatever happens to it afterwards.
        change.obj = copy.deepcopy(change.obj)
        self.changes.append(change)
        for watcher in self.watchers:
            if watcher.plural == change.plural and watcher.match(change.obj):
                watcher.queue.put_nowait(change)
        for hear in self.on_change:
            hear(change)

    # The HTTP edge

    async def _handle(self, request: Request) -> Response:
        method, path = request.method, "/" + request.path_params["path"]
        query = dict(request.query_params)
        self.requests.append(f"{method} {path}?{request.url.query}")
        found = document().operation(method, path)
        if isinstance(found, int):
            return self._refuse(found, "NotFound", f"{method} {path}: not in the document")
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return self._refuse(401, "Unauthorized", f"{method} {path}: no valid token")
        problems = document().query_problems(found, query)
        body, why = await self._body(request, found)
        problems += why
        if problems:
            return self._refuse(400, "BadRequest", f"{method} {path}: {'; '.join(problems)}")
        return await self._serve(found, path, query, body)

    async def _body(self, request: Request, op: Operation) -> tuple[Any, list[str]]:
        raw, schema = await request.body(), op.body_schema()
        if op.method == "DELETE":
            return None, []  # DeleteOptions may come as query parameters; lightkube sends none
        if schema is None:
            return None, ["the operation takes no body"] if raw else []
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return None, ["the body must be application/json"]
        try:
            body = json.loads(raw)
        except ValueError:
            return None, ["the body is not JSON"]
        return body, document().validate(schema, body)

    async def _serve(self, op: Operation, path: str, query: dict[str, str], body: Any) -> Response:
        names = _path_values(op.template, path)
        plural = _plural(op.template)
        watching = op.action == "list" and query.get("watch") in ("true", "1")
        verb = "watch" if watching else RBAC_VERBS.get(op.action, op.action)
        if plural not in SERVED or op.action not in RBAC_VERBS:
            return self._refuse(501, "NotImplemented", f"{op.method} {op.template}: not served")
        self.verbs.add((plural, verb))
        if body is not None:
            self.received.append(copy.deepcopy(body))
        held = self.holds.pop((verb, plural), None)
        if held is not None:
            held.arrived.set()
            await held.released.wait()
        try:
            if watching:
                return self._watch(op, plural, names["namespace"], query)
            status, answer = self._operate(op.action, plural, names, query, body)
        except ApiError as exc:
            self.answered.append((verb, plural, exc.code))
            return _status_response(exc)
        self.answered.append((verb, plural, status))
        self._check_answer(op, status, answer)
        return JSONResponse(answer, status_code=status)

    def _operate(
        self, action: str, plural: str, names: dict[str, str], query: dict[str, str], body: Any
    ) -> tuple[int, dict[str, Any]]:
        namespace, name = names["namespace"], names.get("name")
        if action == "post":
            return 201, self._create(plural, namespace, body)
        if action == "list":
            return 200, self._list(plural, namespace, query)
        assert name is not None
        current = self.get(plural, namespace, name)
        if current is None:
            raise ApiError(404, "NotFound", f'{plural} "{name}" not found')
        if action == "get":
            return 200, current
        if action == "put":
            return 200, self._replace(plural, current, body)
        return self._delete(plural, current, query)

    def _create(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        meta = body.setdefault("metadata", {})
        name = meta.get("name", "")
        if meta.setdefault("namespace", namespace) != namespace:
            raise ApiError(400, "BadRequest", "the namespace of the object does not match")
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", name):
            raise ApiError(422, "Invalid", f'{plural} "{name}" is invalid: metadata.name')
        if self.get(plural, namespace, name) is not None:
            raise ApiError(409, "AlreadyExists", f'{plural} "{name}" already exists')
        meta |= {"uid": str(uuid.uuid4()), "creationTimestamp": _now()}
        if plural == "pods":
            body["status"] = {"phase": "Pending", "qosClass": "Guaranteed"}
        if plural == "persistentvolumeclaims":
            body["status"] = {"phase": "Pending"}
        return self.put(plural, body, "ADDED")

    def _list(self, plural: str, namespace: str, query: dict[str, str]) -> dict[str, Any]:
        match = _selector(query)
        items = [o for (p, ns, _), o in self.objects.items() if p == plural and ns == namespace]
        kind = {"pods": "PodList"}.get(plural, "List")
        return {
            "apiVersion": "v1",
            "kind": kind,
            "metadata": {"resourceVersion": str(self.version)},
            "items": [o for o in items if match(o)],
        }

    def _replace(
        self, plural: str, current: dict[str, Any], body: dict[str, Any]
    ) -> dict[str, Any]:
        meta = current["metadata"]
        if body["metadata"].get("resourceVersion") != meta["resourceVersion"]:
            raise ApiError(409, "Conflict", f'{plural} "{meta["name"]}": the object has changed')
        body["metadata"] |= {"uid": meta["uid"], "creationTimestamp": meta["creationTimestamp"]}
        return self.put(plural, body)

    def _delete(
        self, plural: str, current: dict[str, Any], query: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        meta = current["metadata"]
        if plural == "pods":
            # Graceful: the kubelet stops its containers, then the pod goes (kubelet.py).
            if not meta.get("deletionTimestamp"):
                grace = int(query.get("gracePeriodSeconds", "30"))
                meta |= {"deletionTimestamp": _now(), "deletionGracePeriodSeconds": grace}
                self.put(plural, current)
            return 200, current
        self.remove(plural, meta["namespace"], meta["name"])
        if plural == "secrets":
            return 200, {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Success"}
        return 200, current

    def _watch(self, op: Operation, plural: str, namespace: str, query: dict[str, str]) -> Response:
        match = _selector(query)
        since = query.get("resourceVersion")
        if since and self._expired_once:
            self._expired_once = False
            self.expired_answered += 1
            gone = ApiError(410, "Expired", f"too old resource version: {since}")
            return self._stream(_error_event(gone), None)
        watcher = Watcher(plural, namespace, lambda o: o["metadata"]["namespace"] == namespace)
        start = int(since) if since else None
        initial = [
            c
            for c in self.changes
            if start is not None and c.version > start and c.plural == plural
        ]
        if start is None:
            initial = [Change(self.version, "ADDED", plural, o) for o in self.all(plural)]
        initial = [c for c in initial if c.obj["metadata"]["namespace"] == namespace]
        timeout = float(query.get("timeoutSeconds", "1800"))
        return self._stream(self._events(watcher, initial, match, timeout), watcher)

    async def _events(
        self, watcher: Watcher, initial: list[Change], match: Callable[..., bool], timeout: float
    ) -> AsyncIterator[bytes]:
        sent = 0
        for change in initial:
            watcher.queue.put_nowait(change)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.end_watches_after is None or sent < self.end_watches_after:
            try:
                async with asyncio.timeout_at(deadline):
                    change = await watcher.queue.get()
            except TimeoutError:
                break
            if match(change.obj):
                event = {"type": change.kind, "object": change.obj}
                self._check_event(event)
                sent += 1
                yield (json.dumps(event) + "\n").encode()
        self.watches_ended += 1

    def _stream(self, events: AsyncIterator[bytes], watcher: Watcher | None) -> Response:
        if watcher is not None:
            self.watchers.append(watcher)

        async def body() -> AsyncIterator[bytes]:
            try:
                async for line in events:
                    yield line
            finally:
                if watcher is not None:
                    self.watchers.remove(watcher)

        return StreamingResponse(body(), media_type="application/json")

    # Checks of our own answers

    def _check_answer(self, op: Operation, status: int, answer: Any) -> None:
        schema = op.response_schema(status)
        if schema is None:
            self.violations.append(f"{op.method} {op.template}: the document has no {status}")
            return
        problems = document().validate(schema, answer)
        self.violations += [f"{op.method} {op.template} -> {status}: {p}" for p in problems]

    def _check_event(self, event: dict[str, Any]) -> None:
        schema = {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"}
        self.violations += [f"watch event: {p}" for p in document().validate(schema, event)]

    def _refuse(self, code: int, reason: str, why: str) -> Response:
        self.refused.append(why)
        return _status_response(ApiError(code, reason, why))


_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _status(exc: ApiError) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Failure",
        "message": exc.message,
        "reason": exc.reason,
        "code": exc.code,
    }


def _status_response(exc: ApiError) -> Response:
    return JSONResponse(_status(exc), status_code=exc.code)


async def _error_event(exc: ApiError) -> AsyncIterator[bytes]:
    yield (json.dumps({"type": "ERROR", "object": _status(exc)}) + "\n").encode()


def _path_values(template: str, path: str) -> dict[str, str]:
    pairs = zip(template.split("/"), path.split("/"), strict=True)
    return {t.strip("{}"): p for t, p in pairs if t.startswith("{")}


def _plural(template: str) -> str:
    parts = [p for p in template.split("/") if p and not p.startswith("{")]
    return parts[-1]


def _selector(query: dict[str, str]) -> Callable[[dict[str, Any]], bool]:
    """What ``labelSelector`` (``k=v,...``) and ``fieldSelector`` (``metadata.name=x``) keep."""
    labels = dict(p.split("=", 1) for p in query.get("labelSelector", "").split(",") if p)
    fields = dict(p.split("=", 1) for p in query.get("fieldSelector", "").split(",") if p)
    unknown = set(fields) - {"metadata.name"}
    if unknown:
        raise ApiError(400, "BadRequest", f"field selectors not served: {sorted(unknown)}")

    def match(obj: dict[str, Any]) -> bool:
        meta = obj["metadata"]
        own = meta.get("labels") or {}
        named = fields.get("metadata.name", meta["name"]) == meta["name"]
        return named and all(own.get(k) == v for k, v in labels.items())

    return match


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
