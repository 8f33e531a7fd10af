"""Settings: per-service prefixes, and production refusing unsafe defaults."""

from __future__ import annotations

import subprocess
import sys

import pytest

from claudecloud_common.settings import ConfigurationError
from gateway.settings import GatewaySettings
from provisioner.settings import ProvisionerSettings


def test_a_service_prefix_wins_over_the_plain_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://shared:4222")
    monkeypatch.setenv("PROVISIONER_NATS_URL", "nats://mine:4222")
    assert ProvisionerSettings().nats_url == "nats://mine:4222"
    assert GatewaySettings().nats_url == "nats://shared:4222"


def test_production_lists_every_problem_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("PROVIDER", raising=False)
    with pytest.raises(ConfigurationError) as refused:
        ProvisionerSettings()
    message = str(refused.value)
    assert "DATABASE_URL is required" in message
    assert "PROVIDER must be docker, kubernetes or hetzner in production" in message


def test_development_defaults_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    assert ProvisionerSettings(provider="fake").resolved_database_url.startswith("sqlite+aiosqlite")


def test_hetzner_without_its_settings_is_refused_at_start_naming_them() -> None:
    started = subprocess.run(
        [sys.executable, "-m", "provisioner"],
        env={"PROVIDER": "hetzner", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode == 2
    assert "PROVIDER=hetzner needs" in started.stderr
    assert "HCLOUD_TOKEN" in started.stderr
    assert "NETBIRD_API_TOKEN" in started.stderr
    assert "Traceback" not in started.stderr
