"""Chooses the provider from settings. The fake is never chosen silently."""

from __future__ import annotations

from typing import TYPE_CHECKING

from claudecloud_common.contracts.providers import ProviderKind

from ..settings import ProvisionerSettings
from .base import Provider

if TYPE_CHECKING:
    from .docker import DockerOptions
    from .hetzner import HetznerOptions
    from .kubernetes import KubernetesOptions


def make_provider(settings: ProvisionerSettings) -> Provider:
    match settings.provider:
        case ProviderKind.FAKE:
            from .fake import FakeProvider

            return FakeProvider(
                settings.data_dir / "fake-provider.jsonl",
                latency=settings.fake_latency_seconds,
                fail_operations=settings.fake_fail_operations,
                transient_failures=settings.fake_transient_failures,
                host_memory_mb=settings.fake_host_memory_mb,
                agent_host=settings.fake_agent_host,
            )
        case ProviderKind.DOCKER:
            from .docker import DockerProvider

            return DockerProvider(docker_options(settings))
        case ProviderKind.HETZNER:
            from .hetzner import HetznerProvider

            return HetznerProvider(hetzner_options(settings))
        case ProviderKind.KUBERNETES:
            from .kubernetes import KubernetesProvider

            return KubernetesProvider(kubernetes_options(settings))
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
        gateway_url=settings.workstation_gateway_url,
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
        gateway_url=settings.workstation_gateway_url,
    )


def kubernetes_options(settings: ProvisionerSettings) -> KubernetesOptions:
    from .kubernetes import KubernetesOptions

    config = settings.kubernetes_kubeconfig
    return KubernetesOptions(
        namespace=settings.kubernetes_namespace,
        kubeconfig=str(config) if config else None,
        context=settings.kubernetes_context,
        deployment=settings.kubernetes_deployment,
        image=settings.kubernetes_image,
        image_pull_policy=settings.kubernetes_image_pull_policy,
        storage_class=settings.kubernetes_storage_class,
        disk=settings.kubernetes_disk,
        memory=settings.kubernetes_memory,
        cpus=settings.kubernetes_cpus,
        uid=settings.kubernetes_uid,
        agent_port=settings.kubernetes_agent_port,
        agent_clients=dict(settings.kubernetes_agent_clients),
        control_namespace=settings.kubernetes_control_namespace,
        blocked_cidrs=settings.kubernetes_blocked_cidrs,
        gateway_url=settings.workstation_gateway_url,
        gateway_pods=dict(settings.kubernetes_gateway_pods),
        node_selector=dict(settings.kubernetes_node_selector),
        ready_timeout=settings.kubernetes_ready_timeout_seconds,
        stop_timeout=settings.kubernetes_stop_timeout_seconds,
        api_timeout=settings.kubernetes_api_timeout_seconds,
    )
