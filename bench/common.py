"""What the benchmarks share: honest statistics."""

from __future__ import annotations

import logging
import resource
import statistics
from collections.abc import Sequence

import structlog


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def summary(values_ms: Sequence[float]) -> str:
    return (
        f"p50 {percentile(values_ms, 50):7.2f} ms   p95 {percentile(values_ms, 95):7.2f} ms"
        f"   mean {statistics.fmean(values_ms):7.2f} ms   n={len(values_ms)}"
    )


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def raise_open_files() -> None:
    """This process, and the children it starts from now on, may hold as many files as the hard
    limit allows (thousands of sockets need more than the usual soft limit of 1,024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def quiet_logs() -> None:
    """Warnings and worse only from the code a benchmark runs in its own process (structlog
    unconfigured prints every level, debug included, into the figures)."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
