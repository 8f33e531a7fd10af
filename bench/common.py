"""What the benchmarks share: honest statistics."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


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
