"""The netbird service's bus edge: the instance events that drive the mesh saga."""

from __future__ import annotations

from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage

from claudecloud_common.bus import delivery_attempt, event_subscriber, still_working
from claudecloud_common.contracts.instances import (
    InstanceCreated,
    InstanceDestroyed,
    InstanceFailed,
    InstanceRequested,
    InstanceSubject,
)
from claudecloud_common.contracts.netbird import DeviceKey, GetDeviceKey
from claudecloud_common.rpc import rpc_reply, rpc_subscriber

from .saga import MeshSaga


def register(broker: NatsBroker, saga: MeshSaga) -> None:
    """Attach the netbird service's subscribers to ``broker``. Each saga step beats while it
    calls Netbird, so a slow call is not handed out again to run beside itself (a second
    group or setup key), and takes its instance's turn, should a delivery overlap anyway."""
    settings = saga.settings
    beat = settings.bus_ack_wait_seconds / 3

    @event_subscriber(broker, InstanceSubject.REQUESTED, settings=settings)
    async def on_requested(event: InstanceRequested, message: NatsMessage) -> None:
        """A mesh instance was requested: make its group and one-off setup key (step 2)."""
        if event.mesh:
            async with still_working(message, beat), saga.turn(event.instance_id):
                await saga.prepare(event, delivery_attempt(message))

    @event_subscriber(broker, InstanceSubject.CREATED, settings=settings)
    async def on_created(event: InstanceCreated, message: NatsMessage) -> None:
        """Its server exists: route its subnet and allow its group (step 4)."""
        async with still_working(message, beat), saga.turn(event.instance_id):
            await saga.finalize(event, delivery_attempt(message))

    @event_subscriber(broker, InstanceSubject.DESTROYED, settings=settings)
    async def on_destroyed(event: InstanceDestroyed, message: NatsMessage) -> None:
        """The instance is gone: policy → route → group."""
        async with still_working(message, beat), saga.turn(event.instance_id):
            await saga.teardown(event)

    @event_subscriber(broker, InstanceSubject.FAILED, settings=settings)
    async def on_failed(event: InstanceFailed, message: NatsMessage) -> None:
        """The instance failed (its provider, the saga timeout): no mesh resource outlives it."""
        async with still_working(message, beat), saga.turn(event.instance_id):
            await saga.teardown(event)

    @rpc_subscriber(broker, GetDeviceKey, settings=settings)
    @rpc_reply
    async def on_device_key(query: GetDeviceKey) -> DeviceKey:
        """A one-off key for the owner's own device (the gateway's connect script uses it)."""
        return await saga.device_key(query)
