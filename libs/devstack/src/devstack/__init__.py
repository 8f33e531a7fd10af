"""Run the whole platform on one machine: an embedded NATS server and every service as a
process. ``make run`` uses it, and so do the end-to-end tests, so both start things the same way.
"""

from .local import docker_isolation, free_port, local_config, remove_deployment
from .stack import ServiceSpec, Stack, StackConfig

__all__ = [
    "ServiceSpec",
    "Stack",
    "StackConfig",
    "docker_isolation",
    "free_port",
    "local_config",
    "remove_deployment",
]
