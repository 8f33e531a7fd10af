"""The provider's side of a chaos run: the machines it holds and the calls it took, per user.

The fake provider journals every call it takes and every machine it holds. On Docker, the
engine's own event log says how many containers were made for each user, and its labels say
which instance each container belongs to.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from devstack.local import DEPLOYMENT_LABEL
from provisioner.providers.fake import read_state

INSTANCE_LABEL = "io.claudecloud.instance-id"
USER_LABEL = "io.claudecloud.user-id"


@dataclass(frozen=True)
class Held:
    user_id: str
    instance_id: str | None
    provider_id: str
    running: bool


class Machines(Protocol):
    def calls(self) -> Counter[tuple[str, str]]:
        """Provider calls by (user, operation) that it can count."""

    def held(self) -> list[Held]:
        """Every machine the provider holds now."""


class FakeMachines:
    def __init__(self, data_dir: Path) -> None:
        self.journal = data_dir / "fake-provider.jsonl"

    def calls(self) -> Counter[tuple[str, str]]:
        by_user = read_state(self.journal)["calls_by_user"]
        return Counter({(u, op): n for u, calls in by_user.items() for op, n in calls.items()})

    def held(self) -> list[Held]:
        machines = read_state(self.journal)["machines"].items()
        return [
            Held(user, m.get("instance_id"), m["provider_id"], bool(m["running"]))
            for user, m in machines
        ]


class DockerMachines:
    """Containers labelled with this run's deployment; ``create`` counts the containers the
    engine made for each user since the run began (a wake starts the same one again)."""

    def __init__(self, engine: Any, deployment: str) -> None:
        self.engine = engine
        self.deployment = deployment
        self.since = int(time.time()) - 1

    def _filter(self) -> dict[str, Any]:
        return {"label": [f"{DEPLOYMENT_LABEL}={self.deployment}"]}

    def calls(self) -> Counter[tuple[str, str]]:
        found: Counter[tuple[str, str]] = Counter()
        events = self.engine.events(
            since=self.since,
            until=int(time.time()),
            filters={**self._filter(), "type": "container", "event": "create"},
            decode=True,
        )
        for event in events:
            user = event["Actor"]["Attributes"].get(USER_LABEL)
            if user:
                found[(user, "create")] += 1
        return found

    def held(self) -> list[Held]:
        containers = self.engine.containers.list(all=True, filters=self._filter())
        return [
            Held(
                c.labels.get(USER_LABEL, ""),
                c.labels.get(INSTANCE_LABEL),
                c.id[:12],
                c.status == "running",
            )
            for c in containers
        ]
