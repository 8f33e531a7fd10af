"""Compute providers: one protocol, implementations chosen by the ``PROVIDER`` setting."""

from .base import (
    Activity,
    AgentUnreachable,
    Machine,
    MachineRef,
    OwnedMachine,
    Provider,
    ProviderError,
    ProviderFailure,
    ProviderUnavailable,
    WarmPool,
)
from .factory import make_provider

__all__ = [
    "Activity",
    "AgentUnreachable",
    "Machine",
    "MachineRef",
    "OwnedMachine",
    "Provider",
    "ProviderError",
    "ProviderFailure",
    "ProviderUnavailable",
    "WarmPool",
    "make_provider",
]
