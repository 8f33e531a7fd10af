"""The kubernetes provider (``PROVIDER=kubernetes``): ``provider`` (the calls), ``manifests``
(what it makes), ``pods`` (what a pod's status means)."""

from .manifests import KubernetesOptions
from .provider import KubernetesProvider

__all__ = ["KubernetesOptions", "KubernetesProvider"]
