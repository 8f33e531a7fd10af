"""The fake provider: idempotent, survives restarts, fails when told to."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest

from provisioner.providers import MachineRef, ProviderFailure, ProviderUnavailable
from provisioner.providers.fake import FakeProvider


async def test_create_is_idempotent_and_state_survives_a_restart(tmp_path: Path) -> None:
    ref = MachineRef(instance_id=uuid4(), user_id=uuid4())
    first = await FakeProvider(tmp_path / "fake.json").create(ref)
    again = await FakeProvider(tmp_path / "fake.json").create(ref)  # a new process, same file

    assert again.provider_id == first.provider_id
    assert again.agent_secret is not None
    assert first.agent_secret is not None
    assert again.agent_secret.get_secret_value() == first.agent_secret.get_secret_value()


async def test_pause_and_destroy_of_what_is_gone_succeed(tmp_path: Path) -> None:
    provider = FakeProvider(tmp_path / "fake.json")
    ref = MachineRef(instance_id=uuid4(), user_id=uuid4())
    await provider.create(ref)
    await provider.destroy(ref, purge=False)
    await provider.destroy(ref, purge=False)
    assert await provider.inspect(ref) is None


async def test_failures_can_be_set(tmp_path: Path) -> None:
    ref = MachineRef(instance_id=uuid4(), user_id=uuid4())
    broken = FakeProvider(tmp_path / "a.json", fail_operations=frozenset({"create"}))
    with pytest.raises(ProviderFailure):
        await broken.create(ref)
    flaky = FakeProvider(tmp_path / "b.json", transient_failures=1)
    with pytest.raises(ProviderUnavailable):
        await flaky.create(ref)
    assert (await flaky.create(ref)).running
