"""The credential's bus handlers: whenever an instance starts running (created, or woken), its
agent is given what the user has stored (or told to drop what they cleared while it was paused)."""

from __future__ import annotations

from claudecloud_common.bus import event_subscriber
from claudecloud_common.contracts.instances import (
    InstanceRunning,
    InstanceSubject,
    InstanceWoken,
)
from claudecloud_common.logging import get_logger

from ..state import GatewayState
from ..workspace.errors import AgentUnavailable
from .delivery import CredentialPusher
from .service import CredentialService

log = get_logger(__name__)


class NotDeliveredYet(Exception):
    """The agent did not take the credential yet. Not an ``AppError``: the bus retries the event
    with backoff instead of dead-lettering it."""


def register(state: GatewayState) -> None:
    """Subscribe the gateway's durable consumers on ``evt.instance.running`` and
    ``evt.instance.woken``: each shared by every replica, so each start is handled once, and
    again later if the agent is not ready."""
    pusher = CredentialPusher(
        state.agent_endpoints, state.agent_http, state.settings.credential_push_timeout_seconds
    )

    async def deliver(event: InstanceRunning | InstanceWoken) -> None:
        async with state.db.read() as session:
            delivery = await CredentialService(session, state.credential_cipher).delivery(
                event.user_id
            )
        if delivery is None:
            return  # nothing was ever stored: nothing to give or take away
        state.agent_endpoints.forget(event.instance_id)  # its address and secret may be new
        try:
            status = await pusher.to_instance(event.instance_id, delivery)
        except AgentUnavailable as exc:
            raise NotDeliveredYet(str(exc)) from exc
        if status is None:
            log.info("credential.not_running", instance_id=str(event.instance_id))

    @event_subscriber(state.broker, InstanceSubject.RUNNING, settings=state.settings)
    async def deliver_on_running(event: InstanceRunning) -> None:
        """Push the user's credential (or its clearing) to the instance just created."""
        await deliver(event)

    @event_subscriber(state.broker, InstanceSubject.WOKEN, settings=state.settings)
    async def deliver_on_woken(event: InstanceWoken) -> None:
        """Push the user's credential (or its clearing) to the instance just woken."""
        await deliver(event)
