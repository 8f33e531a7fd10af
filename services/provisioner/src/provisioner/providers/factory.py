"""Chooses the provider from settings. The fake is never chosen silently."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..settings import ProvisionerSettings
from .base import Provider

if TYPE_CHECKING:
    from .docker import DockerOptions
    from .hetzner import HetznerOptions


def make_provider(settings: ProvisionerSettings) -> Provider:
    match settings.provider:
        case "fake":
            from .fake import FakeProvider

            return FakeProvider(
                settings.data_dir / "fake-provider.jsonl",
                latency=settings.fake_latency_seconds,
                fail_operations=settings.fake_fail_operations,
                transient_failures=settings.fake_transient_failures,
            )
        case "docker":
            from .docker import DockerProvider

            return DockerProvider(docker_options(settings))
        case "hetzner":
            from .hetzner import HetznerProvider

            return HetznerProvider(hetzner_options(settings))
        case None:
            raise ValueError("PROVIDER is not set: choose docker, or fake (demo/tests)")
        case other:
            raise ValueError(f"unknown PROVIDER {other!r}: choose docker, or fake")


def docker_options(settings: ProvisionerSettings) -> DockerOptions:
    from .docker import DockerOptions

    return DockerOptions(
        url=settings.docker_url,
        image=settings.docker_image,
        network=settings.docker_network,
        deployment=settings.docker_deployment,
        memory=settings.docker_memory,
        cpus=settings.docker_cpus,
        pids=settings.docker_pids,
        cap_add=settings.docker_cap_add,
        user=settings.docker_user,
        agent_port=settings.docker_agent_port,
        publish_host=settings.docker_publish_host,
        ready_timeout=settings.docker_ready_timeout_seconds,
        stop_timeout=settings.docker_stop_timeout_seconds,
        api_timeout=settings.docker_api_timeout_seconds,
    )


def hetzner_options(settings: ProvisionerSettings) -> HetznerOptions:
    from pydantic import SecretStr

    from .hetzner import HetznerOptions

    return HetznerOptions(
        token=settings.hcloud_token or SecretStr(""),
        terraform_dir=settings.terraform_dir,
        workspaces=settings.terraform_workspaces,
        setup_script=settings.instance_setup_script,
        binary=settings.terraform_binary,
        server_type=settings.hetzner_server_type,
        location=settings.hetzner_location,
        image=settings.hetzner_image,
    )
