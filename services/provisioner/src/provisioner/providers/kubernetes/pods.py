"""What a pod's status means to the provisioner: up or not, started or never going to, healthy,
where its agent answers. Pure functions of the API's objects (the kubelet writes the status)."""

from __future__ import annotations

from lightkube.models.core_v1 import ContainerStatus
from lightkube.resources.core_v1 import Pod

from ..base import Activity, MachineRef, ProviderFailure
from . import manifests as m

UP_PHASES = ("Pending", "Running")
"""Scheduled or running: the workstation exists (``Succeeded`` and ``Failed`` are the end of a
pod; restartPolicy Always makes them rare: eviction, a node lost)."""
CANNOT_START = (
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
)
"""Why a container waits that no amount of waiting mends: the image cannot be had, or its
configuration (the agent secret's reference) is wrong."""


def phase(pod: Pod | None) -> str:
    return (pod.status.phase if pod and pod.status else None) or "Unknown"


def terminating(pod: Pod) -> bool:
    return bool(pod.metadata and pod.metadata.deletionTimestamp)


def is_up(pod: Pod) -> bool:
    """Up: scheduled or running, and nobody is deleting it."""
    return phase(pod) in UP_PHASES and not terminating(pod)


def pod_is_gone(pod: Pod | None) -> bool:
    return pod is None


def needs_replacing(pod: Pod, ref: MachineRef) -> bool:
    """Whether the user's pod cannot serve this instance as it is: an earlier instance's, made
    at another size than the plan now gives, ended, or on its way out."""
    meta = pod.metadata
    labels = (meta.labels if meta else None) or {}
    annotations = (meta.annotations if meta else None) or {}
    resized = bool(ref.cpus or ref.memory_mb) and annotations.get(m.SIZE_ANNOTATION) != m.size(ref)
    other = labels.get(m.LABEL_INSTANCE) != str(ref.instance_id)
    return other or resized or not is_up(pod)


def started(pod: Pod | None) -> bool:
    """Whether the pod runs with an address; raises when it never will."""
    name = pod.metadata.name if pod and pod.metadata else "the pod"
    if pod is None or terminating(pod):
        raise ProviderFailure(f"pod {name} was deleted while it started")
    if not is_up(pod):
        raise ProviderFailure(f"pod {name} stopped while it started: {what_it_says(pod)}")
    for status in _containers(pod):
        waiting = status.state.waiting if status.state else None
        if waiting is not None and waiting.reason in CANNOT_START:
            raise ProviderFailure(
                f"pod {name} cannot start: {waiting.reason}: {waiting.message or ''}".rstrip(": ")
            )
    return phase(pod) == "Running" and bool(pod.status and pod.status.podIP)


def host_of(pod: Pod, agent_port: int) -> str:
    address = pod.status.podIP if pod.status else None
    return f"{address}:{agent_port}" if address else ""


def what_it_says(pod: Pod | None) -> str:
    """The pod's own account of where it is: its phase, then the reasons its conditions and
    containers give (``Unschedulable: 0/3 nodes are available...``)."""
    if pod is None:
        return "gone"
    said = [f"phase {phase(pod)}"]
    for condition in (pod.status.conditions if pod.status else None) or []:
        if condition.status != "True" and condition.reason:
            said.append(f"{condition.reason}: {condition.message or ''}".rstrip(": "))
    for status in _containers(pod):
        waiting = status.state.waiting if status.state else None
        if waiting is not None and waiting.reason:
            said.append(f"{waiting.reason}: {waiting.message or ''}".rstrip(": "))
    return "; ".join(said)


def activity_of(pod: Pod | None) -> Activity:
    """Running and healthy (ready: the image's health check passes), and what the kubelet
    counts: restarts, the last one for lack of memory, a crash loop."""
    if pod is None:
        return Activity(running=False, healthy=False, details={"status": "missing"})
    running = phase(pod) == "Running" and not terminating(pod)
    ready = any(
        c.type == "Ready" and c.status == "True"
        for c in (pod.status.conditions if pod.status else None) or []
    )
    statuses = _containers(pod)
    last = [s.lastState.terminated for s in statuses if s.lastState and s.lastState.terminated]
    waiting = [s.state.waiting for s in statuses if s.state and s.state.waiting]
    return Activity(
        running=running,
        healthy=running and ready,
        details={"status": phase(pod), "ready": str(ready).lower()},
        oom_killed=any(t.reason == "OOMKilled" for t in last),
        restarting=any(w.reason == "CrashLoopBackOff" for w in waiting),
        restarts=sum(s.restartCount for s in statuses),
    )


def _containers(pod: Pod) -> list[ContainerStatus]:
    return list((pod.status.containerStatuses if pod.status else None) or [])
