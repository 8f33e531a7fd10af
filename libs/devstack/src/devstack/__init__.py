"""Run the whole platform on one machine: an embedded NATS server and every service as a
process. ``make run`` uses it, and so do the tests and the benchmarks, so all start things the
same way, from the one list of services in :mod:`devstack.services`.
"""

from .local import docker_isolation, local_config, remove_deployment
from .processes import Child, ChildFailed
from .services import SERVICES, Service, service
from .stack import ServiceSpec, Stack, StackConfig, free_port, plan_services

__all__ = [
    "SERVICES",
    "Child",
    "ChildFailed",
    "Service",
    "ServiceSpec",
    "Stack",
    "StackConfig",
    "docker_isolation",
    "free_port",
    "local_config",
    "plan_services",
    "remove_deployment",
    "service",
]
