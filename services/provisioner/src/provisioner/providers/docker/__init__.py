"""The docker provider: one hardened container and one data volume per user on one engine, and a
warm pool of started containers a create can claim."""

from .pool import DockerPool
from .provider import DockerProvider
from .spec import DockerOptions, container_name, pool_name, volume_name

__all__ = [
    "DockerOptions",
    "DockerPool",
    "DockerProvider",
    "container_name",
    "pool_name",
    "volume_name",
]
