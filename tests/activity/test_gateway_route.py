"""``GET /instances/{id}/activity`` on the gateway (in-process, in-memory bus): the owner and an
operator read why an instance runs or stopped; anyone else gets the same 404 as for no instance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from claudecloud_common.contracts.activity import (
    ActivityView,
    DecisionView,
    GetActivity,
)
from claudecloud_common.contracts.base import ErrorBody, RpcReply, utcnow
from claudecloud_common.contracts.instances import InstanceStatus
from tests.gateway.conftest import ADMIN_KEY, Gateway, build, started, state_of

pytestmark = pytest.mark.unit


@asynccontextmanager
async def gateway_with_activity(
    tmp_path: Path, views: dict[UUID, ActivityView]
) -> AsyncIterator[Gateway]:
    """The gateway and the real provisioner, with the activity service answering ``views``."""
    app = build(tmp_path)

    async def on_get(query: GetActivity) -> bytes:  # the activity service, as its contract says
        if query.instance_id not in views:
            missing = ErrorBody(error="ActivityNotFound", detail="no activity", status_code=404)
            return RpcReply[Any](error=missing).model_dump_json().encode()
        return RpcReply[Any](result=views[query.instance_id]).model_dump_json().encode()

    state_of(app).broker.subscriber(str(GetActivity.subject))(on_get)
    async with started(app, tmp_path) as gateway:
        yield gateway


async def _user_id(gateway: Gateway, token: str) -> UUID:
    me = await gateway.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    return UUID(me.json()["user_id"])


async def test_the_owner_and_an_operator_read_why_it_stopped_and_no_one_else(
    tmp_path: Path,
) -> None:
    views: dict[UUID, ActivityView] = {}
    async with gateway_with_activity(tmp_path, views) as gateway:
        client = gateway.client
        owner = await gateway.sign_in("owner@example.com")
        other = await gateway.sign_in("other@example.com")
        owner_id = await _user_id(gateway, owner)
        instance_id = await gateway.instance(owner_id, InstanceStatus.PAUSED)
        now = utcnow()
        views[instance_id] = ActivityView(
            instance_id=instance_id,
            user_id=owner_id,
            status=InstanceStatus.PAUSED,
            last_activity_at=now - timedelta(hours=12),
            last_activity_reason="chat_turn_running",
            decisions=[
                DecisionView(
                    decided_at=now,
                    decision="pause",
                    reason="max_lifetime",
                    detail="no human input for 12 h, however busy",
                )
            ],
        )
        path = f"/instances/{instance_id}/activity"

        mine = await client.get(path, headers={"Authorization": f"Bearer {owner}"})
        assert mine.status_code == 200, mine.text
        assert mine.json()["decisions"][0]["reason"] == "max_lifetime"
        operator = await client.get(path, headers={"X-API-Key": ADMIN_KEY})
        assert operator.status_code == 200
        theirs = await client.get(path, headers={"Authorization": f"Bearer {other}"})
        missing = await client.get(
            f"/instances/{uuid4()}/activity", headers={"Authorization": f"Bearer {other}"}
        )
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json()["error"] == missing.json()["error"] == "InstanceNotFound"
        assert "max_lifetime" not in theirs.text


async def test_an_instance_activity_has_not_seen_yet_shows_its_status_and_no_decisions(
    tmp_path: Path,
) -> None:
    async with gateway_with_activity(tmp_path, {}) as gateway:
        owner = await gateway.sign_in("new@example.com")
        instance_id = await gateway.instance(await _user_id(gateway, owner))
        response = await gateway.client.get(
            f"/instances/{instance_id}/activity", headers={"Authorization": f"Bearer {owner}"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "running"
        assert response.json()["decisions"] == []
        assert response.json()["deadline_at"] is None
