"""Stand-ins at the activity service's process boundaries: instance agents answering
``GET /activity`` over real HTTP, and a provisioner answering its queries over real NATS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import uvicorn
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from claudecloud_common.contracts.base import RpcReply
from claudecloud_common.contracts.instances import (
    GetMachineActivity,
    HostMemory,
    InstanceFrozen,
    InstancePaused,
    InstanceRunning,
    InstanceStatus,
    InstanceSubject,
    InstanceWoken,
    ListRunning,
    MachineActivity,
    MachineActivityList,
    PauseInstance,
    RunningInstance,
    RunningPage,
)
from claudecloud_common.contracts.providers import ProviderKind, capabilities
from devstack import free_port
from devstack.waiting import eventually


@dataclass
class AgentState:
    """What one fake agent reports, in the shape of the real agent's ``/activity``."""

    boot_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    terminals: int = 0
    tmux_clients: int = 0
    chat_turns: int = 0
    inputs: int = 0
    turns_started: int = 0
    turns_ended: int = 0
    seconds_since_turn_ended: float | None = None
    oom_kills: int | None = 0
    tmux_input_at: float | None = None
    polls: int = 0
    claude_spend: list[dict[str, Any]] = field(default_factory=list)
    """Claude's running totals per day and source, as the agent's ``ClaudeSpendDay``."""

    def type(self) -> None:
        self.inputs += 1

    def start_turn(self) -> None:
        self.chat_turns += 1
        self.turns_started += 1

    def end_turn(self) -> None:
        self.chat_turns -= 1
        self.turns_ended += 1
        self.seconds_since_turn_ended = 0.1

    def report(self) -> dict[str, Any]:
        return {
            "tmux_session": True,
            "tmux_clients": self.tmux_clients,
            "tmux_input_at": self.tmux_input_at,
            "processes": 3,
            "busy": [],
            "terminals": self.terminals,
            "chat_turns": self.chat_turns,
            "boot_id": self.boot_id,
            "inputs": self.inputs,
            "seconds_since_input": None,
            "turns_started": self.turns_started,
            "turns_ended": self.turns_ended,
            "seconds_since_turn_ended": self.seconds_since_turn_ended,
            "oom_kills": self.oom_kills,
            "claude_spend": self.claude_spend,
        }


class FakeAgents:
    """Many fake agents behind one real HTTP server, told apart by their secret."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.agents: dict[str, AgentState] = {}
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add(self) -> tuple[str, AgentState]:
        secret = uuid.uuid4().hex
        self.agents[secret] = AgentState()
        return secret, self.agents[secret]

    async def _activity(self, request: Request) -> Response:
        secret = request.headers.get("authorization", "").removeprefix("Bearer ")
        agent = self.agents.get(secret)
        if agent is None:
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        agent.polls += 1
        return JSONResponse(agent.report())

    async def start(self) -> None:
        app = Starlette(routes=[Route("/activity", self._activity)])
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
            backlog=4096,
            limit_concurrency=None,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        server, task = self._server, self._task

        def listening() -> bool:
            if task.done():
                task.result()  # it stopped before listening: say why
            return server.started

        await eventually(listening, timeout=30, what="the fake agents listening")

    async def stop(self) -> None:
        """Nothing answers on the port any more (as when an agent is killed)."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None


@dataclass
class Machine:
    instance_id: UUID
    user_id: UUID
    host: str
    secret: str
    status: InstanceStatus = InstanceStatus.RUNNING
    oom_killed: bool = False
    restarting: bool = False
    restarts: int = 0
    memory_mb: int | None = None
    """The memory the machine holds, as the provider would say (None: it cannot tell)."""


class StandinProvisioner:
    """Answers ``rpc.instance.activity`` and ``rpc.instance.running`` as the provisioner does, and
    pauses on ``cmd.instance.pause``, announcing it: a pause keeping memory freezes a running
    machine where ``provider`` can (docker: it can), any other stops it. Counts every pause
    command it sees (a core subscription sees each publish, duplicates included)."""

    def __init__(self, nc: NatsClient) -> None:
        self.nc = nc
        self.machines: dict[UUID, Machine] = {}
        self.pauses: list[PauseInstance] = []
        self.activity_requests = 0
        self.provider: ProviderKind | None = ProviderKind.DOCKER
        self.host_memory: HostMemory | None = None
        self._subs: list[Any] = []

    async def start(self) -> None:
        self._subs = [
            await self.nc.subscribe(str(InstanceSubject.ACTIVITY), cb=self._on_activity),
            await self.nc.subscribe(str(InstanceSubject.RUNNING_PAGE), cb=self._on_running_page),
            await self.nc.subscribe(str(InstanceSubject.PAUSE), cb=self._on_pause),
        ]

    async def stop(self) -> None:
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    @property
    def keeps_memory(self) -> bool:
        return self.provider is not None and capabilities(self.provider).keeps_memory

    async def run(self, machine: Machine, *, woken: bool = False) -> None:
        """The instance now runs: announce it as the provisioner would."""
        machine.status = InstanceStatus.RUNNING
        self.machines[machine.instance_id] = machine
        kind = InstanceWoken if woken else InstanceRunning
        event = kind(
            instance_id=machine.instance_id, user_id=machine.user_id, status=InstanceStatus.RUNNING
        )
        await self._announce(event)

    async def _announce(
        self, event: InstanceRunning | InstanceWoken | InstancePaused | InstanceFrozen
    ) -> None:
        headers = {"Nats-Msg-Id": str(event.id)}
        await self.nc.jetstream().publish(
            str(event.subject), event.model_dump_json().encode(), headers=headers
        )

    async def _on_activity(self, msg: Msg) -> None:
        self.activity_requests += 1
        query = GetMachineActivity.model_validate_json(msg.data)
        items = []
        for instance_id in query.instance_ids:
            m = self.machines.get(instance_id)
            if m is None:
                items.append(MachineActivity(instance_id=instance_id))
                continue
            running = m.status is InstanceStatus.RUNNING
            frozen = m.status is InstanceStatus.FROZEN
            items.append(
                MachineActivity(
                    instance_id=instance_id,
                    status=m.status,
                    running=running or frozen,
                    healthy=running,
                    frozen=frozen,
                    processes=3,
                    oom_killed=m.oom_killed,
                    restarting=m.restarting,
                    restarts=m.restarts,
                    memory_bytes=None if m.memory_mb is None else m.memory_mb << 20,
                    host=m.host if running else None,
                    agent_secret=SecretStr(m.secret) if running else None,
                )
            )
        answer = MachineActivityList(
            items=items, host_memory=self.host_memory, provider=self.provider
        )
        reply = RpcReply[MachineActivityList](result=answer)
        await msg.respond(reply.model_dump_json().encode())

    async def _on_running_page(self, msg: Msg) -> None:
        query = ListRunning.model_validate_json(msg.data)
        running = sorted(
            (m for m in self.machines.values() if m.status is InstanceStatus.RUNNING),
            key=lambda m: m.instance_id,
        )
        after = [m for m in running if query.after is None or m.instance_id > query.after]
        items = [RunningInstance(id=m.instance_id, user_id=m.user_id) for m in after]
        page = RunningPage(items=items[: query.limit])
        await msg.respond(RpcReply[RunningPage](result=page).model_dump_json().encode())

    async def _on_pause(self, msg: Msg) -> None:
        command = PauseInstance.model_validate(json.loads(msg.data))
        self.pauses.append(command)
        machine = self.machines.get(command.instance_id)
        if machine is None or machine.status not in (InstanceStatus.RUNNING, InstanceStatus.FROZEN):
            return
        freezes = command.keep_memory and self.keeps_memory
        if freezes and machine.status is InstanceStatus.FROZEN:
            return  # already frozen: the provisioner refuses it
        machine.status = InstanceStatus.FROZEN if freezes else InstanceStatus.PAUSED
        kind = InstanceFrozen if freezes else InstancePaused
        await self._announce(
            kind(
                instance_id=machine.instance_id,
                user_id=machine.user_id,
                status=machine.status,
                reason=command.reason,
                command_id=command.id,
            )
        )
