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

from claudecloud_common.contracts.instances import HostMemory
from claudecloud_common.contracts.providers import ProviderKind
from claudecloud_common.logging import get_logger

from .base import (
    Activity,
    Machine,
    MachineRef,
    OwnedMachine,
    ProviderFailure,
    ProviderUnavailable,
)

log = get_logger(__name__)


class FakeProvider:
    name = ProviderKind.FAKE
    pool = None

    def __init__(
        self,
        state_file: Path,
        *,
        latency: float = 0.0,
        fail_operations: frozenset[str] = frozenset(),
        transient_failures: int = 0,
        host_memory_mb: tuple[int, int] | None = None,
        agent_host: str | None = None,
    ) -> None:
        self._host_memory = (
            HostMemory(total_bytes=host_memory_mb[0] << 20, available_bytes=host_memory_mb[1] << 20)
            if host_memory_mb
            else None
        )
        self._file = state_file
        self._agent_host = agent_host
        self._latency = latency
        self._fail = fail_operations
        self._transient = transient_failures
        self._attempts: Counter[tuple[str, str]] = Counter()
        self._lock = asyncio.Lock()
        self._state: dict[str, Any] | None = None
        self._file.parent.mkdir(parents=True, exist_ok=True)

    # The state file is a journal, one JSON line per change ({"user", "record", "call"}), so a
    # change costs one append however many machines there are. It is compacted when loaded.

    def _load(self) -> dict[str, Any]:
        if self._state is None:
            self._state = read_state(self._file)
            self._compact(self._state)
        return self._state

    def _compact(self, state: dict[str, Any]) -> None:
        lines = [{"user": user, "record": record} for user, record in state["machines"].items()]
        lines += [
            {"call": op, "user": user, "times": n}
            for user, calls in state["calls_by_user"].items()
            for op, n in calls.items()
        ]
        tmp = self._file.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(line) + "\n" for line in lines))
        os.replace(tmp, self._file)

    def _record(self, user: str, record: dict[str, Any] | None) -> None:
        self._append({"user": user, "record": record})

    def _append(self, line: dict[str, Any]) -> None:
        with self._file.open("a") as journal:
            journal.write(json.dumps(line) + "\n")

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
        _count(state, op, str(ref.user_id), 1)
        self._append({"call": op, "user": str(ref.user_id)})
        log.debug("fake_provider.call", operation=op, instance_id=str(ref.instance_id))
        return state

    @staticmethod
    def _machine(record: dict[str, Any]) -> Machine:
        return Machine(
            provider_id=record["provider_id"],
            running=record["running"],
            host=record["host"],
            agent_secret=SecretStr(record["agent_secret"]),
            frozen=record.get("frozen", False),
        )

    async def create(self, ref: MachineRef) -> Machine:
        async with self._lock:
            state = await self._step("create", ref)
            machines = state["machines"]
            record = machines.get(str(ref.user_id))
            if record is None:
                record = machines[str(ref.user_id)] = {
                    "provider_id": f"fake-{ref.user_id}",
                    "host": self._agent_host or f"fake-{ref.user_id}.local",
                    "agent_secret": secrets.token_urlsafe(24),
                    "volume": True,
                }
            record.update(running=True, instance_id=str(ref.instance_id))
            self._record(str(ref.user_id), record)
            return self._machine(record)

    async def pause(self, ref: MachineRef, *, keep_memory: bool) -> None:
        async with self._lock:
            state = await self._step("freeze" if keep_memory else "pause", ref)
            record = self._require(state, ref)
            record.update(running=keep_memory, frozen=keep_memory)
            self._record(str(ref.user_id), record)

    async def wake(self, ref: MachineRef) -> Machine:
        async with self._lock:
            state = await self._step("wake", ref)
            record = self._require(state, ref)
            record.update(running=True, frozen=False)
            self._record(str(ref.user_id), record)
            return self._machine(record)

    async def destroy(self, ref: MachineRef, *, purge: bool) -> None:
        async with self._lock:
            state = await self._step("destroy", ref)
            state["machines"].pop(str(ref.user_id), None)
            self._record(str(ref.user_id), None)

    async def inspect(self, ref: MachineRef) -> Machine | None:
        record = self._load()["machines"].get(str(ref.user_id))
        return self._machine(record) if record else None

    async def activity(self, ref: MachineRef) -> Activity:
        record = self._load()["machines"].get(str(ref.user_id))
        running = bool(record and record["running"])
        frozen = bool(record and record.get("frozen"))
        return Activity(running=running, healthy=running, frozen=frozen)

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

    async def host_memory(self) -> HostMemory | None:
        return self._host_memory

    async def remove_orphan(self, machine: OwnedMachine) -> None:
        async with self._lock:
            state = self._load()
            record = state["machines"].get(str(machine.user_id))
            if record is not None and record["provider_id"] == machine.provider_id:
                del state["machines"][str(machine.user_id)]
                self._record(str(machine.user_id), None)

    async def close(self) -> None:
        return None

    @staticmethod
    def _require(state: dict[str, Any], ref: MachineRef) -> dict[str, Any]:
        record: dict[str, Any] | None = state["machines"].get(str(ref.user_id))
        if record is None:
            raise ProviderFailure(f"fake provider: no machine for user {ref.user_id}")
        return record


def read_state(path: Path) -> dict[str, Any]:
    """The fake provider's machines and call counts, replayed from its journal (tests read it)."""
    state: dict[str, Any] = {"machines": {}, "calls": {}, "calls_by_user": {}}
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return state
    for text in lines:
        line = json.loads(text)
        if "call" in line:
            _count(state, line["call"], line["user"], line.get("times", 1))
        elif line["record"] is None:
            state["machines"].pop(line["user"], None)
        else:
            state["machines"][line["user"]] = line["record"]
    return state


def _count(state: dict[str, Any], op: str, user: str, times: int) -> None:
    state["calls"][op] = state["calls"].get(op, 0) + times
    mine = state["calls_by_user"].setdefault(user, {})
    mine[op] = mine.get(op, 0) + times
