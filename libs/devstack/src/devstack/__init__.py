"""Run the whole platform on one machine: an embedded NATS server and every service as a
process. ``make run`` uses it, and so do the tests and the benchmarks, so all start things the
same way, from the one list of services in :mod:`devstack.services`.

- :mod:`~devstack.services`: the registry (name, module, settings prefix, health path, replicas).
- :mod:`~devstack.stack`: a platform's processes, started in order and stopped in reverse.
- :mod:`~devstack.processes`: a child that dies with its parent (even on SIGKILL).
- :mod:`~devstack.supervisor`: ``make run`` restarting what exits, with backoff.
- :mod:`~devstack.local`: throwaway platforms (free ports, own folder, docker isolation).
- :mod:`~devstack.servers`: throwaway PostgreSQL, Redis and NATS servers.
- :mod:`~devstack.signin`, :mod:`~devstack.ttyd`, :mod:`~devstack.waiting`: what the tests and
  benchmarks use to drive a platform (sign-in, the terminal protocol, waiting with a deadline).
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
