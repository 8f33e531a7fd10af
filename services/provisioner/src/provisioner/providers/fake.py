"""An in-memory provider for tests and the labelled demo mode: no real machines.

Its state is kept in a JSON file so it survives restarts (a crashed provisioner finds the
machine it made before). Latency and failures are settable so tests can exercise slow and
failing backends.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import SecretStr

from .base import (
    Activity,
    Machine,
    MachineRef,
    OwnedMachine,
    ProviderFailure,
    ProviderUnavailable,
)


class FakeProvider:
    name = "fake"

    def __init__(
        self,
        state_file: Path,
        *,
        latency: float = 0.0,
        fail_operations: frozenset[str] = frozenset(),
        transient_failures: int = 0,
    ) -> None:
        self._file = state_file
        self._latency = latency
        self._fail = fail_operations
        self._transient = transient_failures
        self._attempts: Counter[tuple[str, str]] = Counter()
        self._lock = asyncio.Lock()
        self._state: dict[str, Any] | None = None
        self._file.parent.mkdir(parents=True, exist_ok=True)

    # The state file: {"machines": {user_id: {...}}, "calls": {op: n}}

    def _load(self) -> dict[str, Any]:
        if self._state is None:
            try:
                self._state = json.loads(self._file.read_text())
            except FileNotFoundError:
                self._state = {"machines": {}, "calls": {}}
        return self._state

    def _save(self, state: dict[str, Any]) -> None:
        tmp = self._file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, sort_keys=True))
        os.replace(tmp, self._file)

    async def _step(self, op: str, ref: MachineRef) -> dict[str, Any]:
        if self._latency:
            await asyncio.sleep(self._latency)
        if op in self._fail:
            raise ProviderFailure(f"fake provider: {op} is set to fail")
        key = (op, str(ref.user_id))
        self._attempts[key] += 1
        if self._attempts[key] <= self._transient:
            raise ProviderUnavailable(f"fake provider: {op} transiently unavailable")
        state = self._load()
        state["calls"][op] = state["calls"].get(op, 0) + 1
        return state

    @staticmethod
    def _machine(record: dict[str, Any]) -> Machine:
        return Machine(
            provider_id=record["provider_id"],
            running=record["running"],
            host=record["host"],
            agent_secret=SecretStr(record["agent_secret"]),
        )

    async def create(self, ref: MachineRef) -> Machine:
        async with self._lock:
            state = await self._step("create", ref)
            machines = state["machines"]
            record = machines.get(str(ref.user_id))
            if record is None:
                record = machines[str(ref.user_id)] = {
                    "provider_id": f"fake-{ref.user_id}",
                    "host": f"fake-{ref.user_id}.local",
                    "agent_secret": secrets.token_urlsafe(24),
                    "volume": True,
                }
            record.update(running=True, instance_id=str(ref.instance_id))
            self._save(state)
            return self._machine(record)

    async def pause(self, ref: MachineRef) -> None:
        async with self._lock:
            state = await self._step("pause", ref)
            record = self._require(state, ref)
            record["running"] = False
            self._save(state)

    async def wake(self, ref: MachineRef) -> Machine:
        async with self._lock:
            state = await self._step("wake", ref)
            record = self._require(state, ref)
            record["running"] = True
            self._save(state)
            return self._machine(record)

    async def destroy(self, ref: MachineRef, *, purge: bool) -> None:
        async with self._lock:
            state = await self._step("destroy", ref)
            state["machines"].pop(str(ref.user_id), None)
            self._save(state)

    async def inspect(self, ref: MachineRef) -> Machine | None:
        record = self._load()["machines"].get(str(ref.user_id))
        return self._machine(record) if record else None

    async def activity(self, ref: MachineRef) -> Activity:
        record = self._load()["machines"].get(str(ref.user_id))
        running = bool(record and record["running"])
        return Activity(running=running, healthy=running)

    async def inventory(self) -> list[OwnedMachine]:
        return [
            OwnedMachine(
                provider_id=record["provider_id"],
                instance_id=UUID(record["instance_id"]),
                user_id=UUID(user_id),
                running=record["running"],
            )
            for user_id, record in self._load()["machines"].items()
        ]

    async def remove_orphan(self, machine: OwnedMachine) -> None:
        async with self._lock:
            state = self._load()
            record = state["machines"].get(str(machine.user_id))
            if record is not None and record["provider_id"] == machine.provider_id:
                del state["machines"][str(machine.user_id)]
                self._save(state)

    async def close(self) -> None:
        return None

    @staticmethod
    def _require(state: dict[str, Any], ref: MachineRef) -> dict[str, Any]:
        record: dict[str, Any] | None = state["machines"].get(str(ref.user_id))
        if record is None:
            raise ProviderFailure(f"fake provider: no machine for user {ref.user_id}")
        return record
