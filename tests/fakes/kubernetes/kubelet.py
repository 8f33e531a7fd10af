"""The stand-in API server's kubelet: it runs the pods the provider makes, as far as a test on
one machine can, and writes their status as a kubelet does.

A pod gets an address of its own on the loopback range (``127.0.0.N``: Linux routes all of
127/8 to ``lo``), so the provider reaches its agent "at the pod's address" on the agent port from
its settings, one agent per address. Its container's environment is resolved as the kubelet
resolves it (``secretKeyRef`` read from the Secret: a missing one is
``CreateContainerConfigError``), its volume claim is a folder that outlives the pod, and its
container is a :class:`Runtime`: a small in-process agent (:class:`StubAgents`, answering
``/healthz`` to the secret its environment's credential verifies) or the real agent as a process
(:class:`AgentProcesses`).
``mode`` makes pods that never start (``"hang"``: ``ContainerCreating`` for ever) or whose image
cannot be pulled (``"bad-image"``). Deleting a pod stops its container, then removes it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import secrets
import shutil
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from claudecloud_agentapi import AgentCredential
from devstack.processes import Child
from tests.support import eventually

from .api import Change, FakeKubernetes

Mode = Literal["run", "hang", "bad-image"]


@dataclass(frozen=True)
class Container:
    """What the kubelet hands a runtime: where to listen, the environment, the volume."""

    pod: str
    address: str
    port: int
    env: dict[str, str]
    volume: Path


class Runtime(Protocol):
    async def start(self, container: Container) -> Any: ...

    async def stop(self, handle: Any) -> None: ...


class StubAgents:
    """An agent that answers ``/healthz`` when the caller presents its secret, in-process."""

    async def start(self, container: Container) -> uvicorn.Server:
        kept = AgentCredential.parse(container.env["AGENT_SECRET"])  # never the secret itself

        async def healthz(request: Request) -> Response:
            scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
            if scheme != "Bearer" or not kept.accepts(given):
                return JSONResponse({"error": "Unauthorized"}, status_code=401)
            return JSONResponse({"status": "ok", "uptime_seconds": 0.0})

        app = Starlette(routes=[Route("/healthz", healthz)])
        config = uvicorn.Config(
            app, host=container.address, port=container.port, log_level="warning", lifespan="off"
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        await eventually(lambda: _listening(server, task), timeout=10, what="the stub agent")
        return server

    async def stop(self, handle: uvicorn.Server) -> None:
        handle.should_exit = True


class AgentProcesses:
    """The real agent (``python -m agent``) as the pod's container, its volume as home."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs

    async def start(self, container: Container) -> Child:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AGENT_", "TMUX"))},
            **container.env,
            "AGENT_HOST": container.address,
            "AGENT_DATA_DIR": str(container.volume),
            "HOME": str(container.volume),
            "TMUX_TMPDIR": str(container.volume),
        }
        log = self.logs / f"{container.pod}.log"
        child = Child(container.pod, [sys.executable, "-m", "agent"], env, log=log)
        await asyncio.to_thread(child.start)
        url = f"http://{container.address}:{container.port}/livez"  # the pod holds no secret
        await eventually(lambda: _answers(url, {}), timeout=60, what=f"{container.pod} up")
        return child

    async def stop(self, handle: Child) -> None:
        await asyncio.to_thread(handle.stop, 10)


class Kubelet:
    """Runs the pods of ``api`` with ``runtime``; volumes under ``root``."""

    def __init__(self, api: FakeKubernetes, runtime: Runtime, root: Path, agent_port: int) -> None:
        self.api, self.runtime, self.root, self.agent_port = api, runtime, root, agent_port
        self.mode: Mode = "run"
        self.gate: asyncio.Event | None = None
        """When set, pods wait for it after being scheduled (a slow image pull)."""
        self.stop_gate: asyncio.Event | None = None
        """When set, deleted pods wait for it before they stop (a slow shutdown)."""
        self.running: dict[str, Any] = {}
        self.addresses = (f"127.0.0.{n}" for n in itertools.cycle(range(2, 255)))
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping: set[str] = set()
        api.on_change.append(self._hear)

    def volume(self, namespace: str, claim: str) -> Path | None:
        """The folder of a volume claim (None: there is no such claim)."""
        found = self.api.get("persistentvolumeclaims", namespace, claim)
        return self.root / found["metadata"]["uid"] if found else None

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for handle in self.running.values():
            await self.runtime.stop(handle)
        self.running.clear()

    def _hear(self, change: Change) -> None:
        meta = change.obj["metadata"]
        key = (meta["namespace"], meta["name"], meta["uid"])
        if change.plural == "persistentvolumeclaims":
            folder = self.root / meta["uid"]
            if change.kind == "ADDED":
                folder.mkdir(parents=True)
                self._spawn(self._bind(*key))
            elif change.kind == "DELETED":
                shutil.rmtree(folder, ignore_errors=True)
        elif change.plural == "pods" and change.kind == "ADDED":
            self._spawn(self._start(*key))
        elif (
            change.plural == "pods"
            and meta.get("deletionTimestamp")
            and change.kind != "DELETED"
            and meta["uid"] not in self.stopping
        ):
            self.stopping.add(meta["uid"])
            self._spawn(self._stop(*key))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _pod(self, namespace: str, name: str, uid: str) -> dict[str, Any] | None:
        """The pod as stored now, if it is still that pod and nobody is deleting it."""
        found = self.api.get("pods", namespace, name)
        if found is None or found["metadata"]["uid"] != uid:
            return None
        return None if found["metadata"].get("deletionTimestamp") else found

    async def _bind(self, namespace: str, name: str, uid: str) -> None:
        claim = self.api.get("persistentvolumeclaims", namespace, name)
        if claim is not None and claim["metadata"]["uid"] == uid:
            storage = claim["spec"]["resources"]["requests"]["storage"]
            modes = claim["spec"]["accessModes"]
            claim["status"] = {
                "phase": "Bound",
                "accessModes": modes,
                "capacity": {"storage": storage},
            }
            self.api.put("persistentvolumeclaims", claim)

    async def _start(self, namespace: str, name: str, uid: str) -> None:
        pod = self._pod(namespace, name, uid)
        if pod is None:
            return
        [container] = pod["spec"]["containers"]
        self._status(pod)
        if self.mode == "hang" or not pod["spec"].get("volumes"):  # (one a test made by hand)
            self._waiting(pod, "ContainerCreating", "")
        elif self.mode == "bad-image":
            message = f'Back-off pulling image "{container["image"]}": not found'
            self._waiting(pod, "ImagePullBackOff", message)
        else:
            env = self._env(pod, container)
            if env is not None:
                await self._run(pod, env)

    async def _run(self, pod: dict[str, Any], env: dict[str, str]) -> None:
        meta = pod["metadata"]
        namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
        claim = pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
        volume = self.volume(namespace, claim)
        assert volume is not None, f"pod {name} started without its claim {claim}"
        if self.gate is not None:
            await self.gate.wait()
        address = next(self.addresses)
        self.running[uid] = await self.runtime.start(
            Container(name, address, self.agent_port, env, volume)
        )
        current = self._pod(namespace, name, uid)
        if current is not None:
            self._status(current, address=address)
        elif uid not in self.stopping:  # deleted while it started, and its stop has run
            await self.runtime.stop(self.running.pop(uid))

    async def _stop(self, namespace: str, name: str, uid: str) -> None:
        if self.stop_gate is not None:
            await self.stop_gate.wait()
        handle = self.running.pop(uid, None)
        if handle is not None:
            await self.runtime.stop(handle)
        self.stopping.discard(uid)
        found = self.api.get("pods", namespace, name)
        if found is not None and found["metadata"]["uid"] == uid:
            self.api.remove("pods", namespace, name)

    def _env(self, pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str] | None:
        env = {}
        for item in container.get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref is None:
                env[item["name"]] = item["value"]
                continue
            found = self.api.get("secrets", pod["metadata"]["namespace"], ref["name"])
            if found is None or ref["key"] not in found.get("data", {}):
                message = f'secret "{ref["name"]}" not found'
                self._waiting(pod, "CreateContainerConfigError", message)
                return None
            env[item["name"]] = base64.b64decode(found["data"][ref["key"]]).decode()
        return env

    def _status(self, pod: dict[str, Any], *, address: str | None = None) -> None:
        now = _now()
        conditions = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now}]
        ready = "True" if address else "False"
        conditions += [
            {"type": t, "status": ready, "lastTransitionTime": now}
            for t in ("Initialized", "ContainersReady", "Ready")
        ]
        status: dict[str, Any] = {"phase": "Pending", "conditions": conditions}
        if address:
            status |= {
                "phase": "Running",
                "podIP": address,
                "podIPs": [{"ip": address}],
                "hostIP": "127.0.0.1",
                "startTime": now,
                "containerStatuses": [_container_status(pod, {"running": {"startedAt": now}})],
            }
        pod["status"] = {**status, "qosClass": "Guaranteed"}
        self.api.put("pods", pod)

    def _waiting(self, pod: dict[str, Any], reason: str, message: str) -> None:
        waiting = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        pod["status"]["containerStatuses"] = [_container_status(pod, waiting)]
        self.api.put("pods", pod)


def _container_status(pod: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    [container] = pod["spec"]["containers"]
    running = "running" in state
    return {
        "name": container["name"],
        "image": container["image"],
        "imageID": f"sha256:{secrets.token_hex(32)}" if running else "",
        "ready": running,
        "started": running,
        "restartCount": 0,
        "state": state,
    }


def _listening(server: uvicorn.Server, task: asyncio.Task[None]) -> bool:
    if task.done():
        task.result()  # it stopped before listening: say why
    return server.started


async def _answers(url: str, headers: dict[str, str]) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(url, headers=headers)).status_code == 200
    return False


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
