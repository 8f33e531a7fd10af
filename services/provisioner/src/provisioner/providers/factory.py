"""Chooses the provider from settings. The fake is never chosen silently."""

from __future__ import annotations

from ..settings import ProvisionerSettings
from .base import Provider


def make_provider(settings: ProvisionerSettings) -> Provider:
    match settings.provider:
        case "fake":
            from .fake import FakeProvider

            return FakeProvider(
                settings.data_dir / "fake-provider.json",
                latency=settings.fake_latency_seconds,
                fail_operations=settings.fake_fail_operations,
                transient_failures=settings.fake_transient_failures,
            )
        case None:
            raise ValueError("PROVIDER is not set: choose docker, hetzner, or fake (demo/tests)")
        case other:
            raise ValueError(f"unknown PROVIDER {other!r}: choose docker, hetzner, or fake")
