"""Compute providers: one protocol, implementations chosen by the ``PROVIDER`` setting."""

from .base import (
    Activity,
    Machine,
    MachineRef,
    OwnedMachine,
    Provider,
    ProviderError,
    ProviderFailure,
    ProviderUnavailable,
)
from .factory import make_provider

__all__ = [
    "Activity",
    "Machine",
    "MachineRef",
    "OwnedMachine",
    "Provider",
    "ProviderError",
    "ProviderFailure",
    "ProviderUnavailable",
    "make_provider",
]
