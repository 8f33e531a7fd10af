"""The registry of services and what the launcher derives from it, without starting anything."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from devstack import SERVICES, Stack, StackConfig, plan_services
from devstack.__main__ import banner
from devstack.local import hermetic_environ

pytestmark = pytest.mark.unit


def test_every_registered_service_is_a_runnable_module_with_its_own_prefix() -> None:
    assert len({s.name for s in SERVICES}) == len(SERVICES)
    assert len({s.env_prefix for s in SERVICES}) == len(SERVICES)
    assert [s.name for s in SERVICES if s.public] == ["gateway"]
    for service in SERVICES:
        assert importlib.util.find_spec(f"{service.module}.__main__"), service.module


def test_ports_are_free_or_the_ones_the_environment_gives() -> None:
    internal = next(s for s in SERVICES if not s.public)
    plan = plan_services(8123, environ={internal.port_variable: "9345"}, replicas={"gateway": 2})
    ports = {spec.name: spec.http_port for spec in plan}
    assert ports["gateway"] == 8123
    assert ports[internal.name] == 9345
    assert "gateway-1" in ports  # a second replica, on a port of its own
    assert len(set(ports.values())) == len(ports)


def test_a_service_gets_every_setting_of_the_environment_and_the_launcher_decides_only_its_own(
    tmp_path: Path,
) -> None:
    environ = {
        "PROVISIONER_DOCKER_MEMORY": "1g",
        "GATEWAY_RATE_LIMIT_API": "5/minute",
        "BASE_URL": "https://cloud.example",
        "PROVISIONER_HTTP_PORT": "1",  # the launcher decided another: it wins
    }
    config = StackConfig(data_dir=tmp_path, port=8123, base_environ=environ)
    stack = Stack(config)
    env = stack.service_env(stack.spec("provisioner"))
    assert env["PROVISIONER_DOCKER_MEMORY"] == "1g"
    assert env["GATEWAY_RATE_LIMIT_API"] == "5/minute"
    assert env["BASE_URL"] == "https://cloud.example"  # filled only when unset
    assert env["PROVISIONER_HTTP_PORT"] == str(stack.spec("provisioner").http_port)
    assert env["NATS_URL"] == config.resolved_nats_url


def test_a_throwaway_platform_ignores_settings_that_would_reach_outside_servers() -> None:
    kept = hermetic_environ(
        {"DATABASE_URL": "x", "REDIS_URL": "x", "GATEWAY_JWT_SECRET": "x", "LOG_LEVEL": "INFO"}
    )
    assert kept == {"LOG_LEVEL": "INFO"}


def test_stripes_webhook_gets_a_port_of_its_own_and_the_banner_gives_its_address(
    tmp_path: Path,
) -> None:
    given = {"BILLING_WEBHOOK_PORT": "9444"}
    config = StackConfig(data_dir=tmp_path, port=8123, services=plan_services(8123, environ=given))
    stack = Stack(config)
    billing = stack.spec("billing")
    env = stack.service_env(billing)
    free = plan_services(8123, environ={})
    shown = banner(config, environ={"BILLING_ENABLED": "true"})

    assert env["BILLING_WEBHOOK_PORT"] == "9444"
    assert env["BILLING_HTTP_PORT"] != "9444"  # its own port is another, internal one
    assert "  Stripe webhook:      http://localhost:9444/stripe/webhook\n" in shown
    assert "Stripe webhook" not in banner(config, environ={"BILLING_ENABLED": "false"})
    webhook = next(s for s in free if s.name == "billing").listener_url("WEBHOOK_PORT")
    assert webhook.startswith("http://127.0.0.1:")  # free when the environment gives none


def test_workstations_are_told_where_the_gateways_listener_for_them_is(tmp_path: Path) -> None:
    given = {"GATEWAY_AGENT_PORT": "9555"}
    config = StackConfig(data_dir=tmp_path, port=8123, services=plan_services(8123, environ=given))
    stack = Stack(config)

    gateway = stack.service_env(stack.spec("gateway"))
    provisioner = stack.service_env(stack.spec("provisioner"))

    assert gateway["GATEWAY_AGENT_PORT"] == "9555"  # a port of its own beside the public one
    # The provisioner gives it to each container, which reaches the host by this name.
    assert provisioner["WORKSTATION_GATEWAY_URL"] == "http://host.docker.internal:9555"
    assert "  Workstation agents:  http://localhost:9555/agent/\n" in banner(config, environ={})
    mine = StackConfig(data_dir=tmp_path, port=8123, base_environ={
        "WORKSTATION_GATEWAY_URL": "http://gateway.internal:9000"
    })  # fmt: skip
    chosen = Stack(mine).service_env(Stack(mine).spec("provisioner"))
    assert chosen["WORKSTATION_GATEWAY_URL"] == "http://gateway.internal:9000"  # yours wins
