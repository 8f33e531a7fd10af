"""Whose instance it is: the gateway's one set of rules for acting on an instance.

Someone else's instance is indistinguishable from none (404, never 403), so an id cannot be
probed. An operator (the admin key) may read and command any instance, but opens no one's
workstation: the terminal, chat, files and Claude's sign-in belong to the instance's user.
"""

from __future__ import annotations

from uuid import UUID

from claudecloud_common.contracts.instances import InstanceView

from .auth.identify import Caller
from .instances.errors import InstanceNotFound
from .instances.service import InstanceGateway
from .workspace.agents import Agent, AgentEndpoints

__all__ = ["owned_agent", "owned_instance", "owned_instances", "owned_workstation"]


async def owned_instance(
    instances: InstanceGateway, caller: Caller, instance_id: UUID
) -> InstanceView:
    """The instance, if the caller may act on it: their own, or any for an operator."""
    view = await instances.get(instance_id)
    if not caller.is_admin and view.user_id != caller.user_id:
        raise InstanceNotFound(f"no instance with id {instance_id}")
    return view


async def owned_instances(
    instances: InstanceGateway, caller: Caller, named: UUID | None
) -> list[InstanceView]:
    """Instances, newest first: an operator's pick of user (``None``: everyone's), a signed-in
    user's own (naming someone else finds nothing)."""
    if not caller.is_admin:
        if named is not None and named != caller.user_id:
            return []
        named = caller.user_id
    return await instances.list(named)


async def owned_workstation(
    instances: InstanceGateway, user_id: UUID | None, instance_id: UUID
) -> InstanceView:
    """The user's own instance, to work inside (an operator, ``user_id`` None, has none)."""
    view = await instances.get(instance_id)
    if user_id is None or view.user_id != user_id:
        raise InstanceNotFound(f"no instance with id {instance_id}")
    return view


async def owned_agent(endpoints: AgentEndpoints, user_id: UUID | None, instance_id: UUID) -> Agent:
    """The agent of the user's own running instance (an operator, ``user_id`` None, has none)."""
    endpoint = await endpoints.lookup(instance_id)
    if user_id is None or endpoint.user_id != user_id:
        raise InstanceNotFound(f"no instance with id {instance_id}")
    return await endpoints.running(instance_id)
