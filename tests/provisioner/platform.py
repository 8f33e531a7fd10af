"""The running platform (as ``make run`` starts it) seen through its gateway, whatever provider
makes its machines: what the provider-parametrised suites (``lifecycle/``) and the docker tests
drive."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from devstack import Stack
from tests.support import eventually


@dataclass
class Platform:
    """The platform's processes, a client of its gateway with the operator's key, and the
    settings it was started with."""

    stack: Stack
    api: httpx.AsyncClient
    base_env: dict[str, str]

    async def create(self, user_id: uuid.UUID) -> dict[str, Any]:
        response = await self.api.post("/instances", json={"user_id": str(user_id)})
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body

    async def get(self, instance_id: str) -> dict[str, Any]:
        response = await self.api.get(f"/instances/{instance_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def act(self, instance_id: str, verb: str, *, purge: bool = False) -> None:
        """``pause`` (a stop), ``freeze`` (a pause that keeps memory), ``wake`` or ``destroy``
        (``DELETE``, with ``purge``) through the gateway."""
        if verb == "destroy":
            params = {"purge": "true"} if purge else {}
            response = await self.api.delete(f"/instances/{instance_id}", params=params)
        elif verb in ("pause", "freeze"):
            keep = {"keep_memory": verb == "freeze"}
            response = await self.api.post(f"/instances/{instance_id}/pause", json=keep)
        else:
            response = await self.api.post(f"/instances/{instance_id}/{verb}")
        assert response.status_code == 202, response.text

    async def wait_status(
        self, instance_id: str, status: str, timeout: float = 60
    ) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            view = await self.get(instance_id)
            if view["status"] == "failed" and status != "failed":
                raise AssertionError(f"instance failed: {view['reason']}")
            return view if view["status"] == status else None

        found: dict[str, Any] = await eventually(
            reached, timeout=timeout, interval=0.05, what=f"status {status}"
        )
        return found

    def restart_provisioner(self, **env: str) -> None:
        """Restart the provisioner with ``env`` over the session's settings."""
        self.stack.stop("provisioner")
        self.stack.config.extra_env = {**self.base_env, **env}
        self.stack.start_service(self.stack.spec("provisioner"))
