"""``PROVIDER=kubernetes`` needs a way to the API server: a kubeconfig file, or a service
account token inside a cluster; without either the provisioner refuses to start, saying which."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from claudecloud_common.contracts.providers import KUBERNETES_NAMESPACE
from provisioner.providers import make_provider
from provisioner.providers.kubernetes import KubernetesProvider
from provisioner.settings import ProvisionerSettings

pytestmark = pytest.mark.unit


def test_outside_a_cluster_a_kubeconfig_is_needed() -> None:
    with pytest.raises(ValidationError, match="PROVISIONER_KUBERNETES_KUBECONFIG"):
        ProvisionerSettings(provider="kubernetes")


def test_a_kubeconfig_that_is_not_there_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ValidationError, match=f"{missing} is not a file"):
        ProvisionerSettings(provider="kubernetes", kubernetes_kubeconfig=missing)


def test_with_one_the_factory_makes_the_provider(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text("{}")
    settings = ProvisionerSettings(provider="kubernetes", kubernetes_kubeconfig=config)
    provider = make_provider(settings)
    assert isinstance(provider, KubernetesProvider)
    assert provider.options.namespace == KUBERNETES_NAMESPACE  # the connect script's default
