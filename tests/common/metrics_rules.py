"""What every ``/metrics`` answer must obey, and the table in ``docs/metrics.md`` read back: the
tests hold what any service exposes (in this process or scraped from a running one) to both."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from devstack import SERVICES

__all__ = ["DOCS", "Documented", "Exposed", "documented", "exposed", "problems"]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
LIBRARY_PREFIXES = ("process_", "python_")
"""What prometheus_client itself exposes in every process."""
FORBIDDEN_LABEL_PARTS = ("user", "email", "token", "secret", "password", "session", "customer")
FORBIDDEN_LABELS = {"id", "instance_id", "path", "url", "raw_path", "ip", "address"}
UNIT_SUFFIXES = ("_seconds", "_bytes")
_NAME = re.compile(r"claudecloud_[a-z0-9_]+")
_UUID = re.compile(
    r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
)
_ROUTE = re.compile(r"unmatched|(/([A-Za-z_.-][A-Za-z0-9_.-]*|\{[a-z_]+(:path)?\})?)+")
_TYPE_LINE = re.compile(r"# TYPE (\S+) (\S+)")
_SERVICES = {s.name for s in SERVICES}
_GROUPS = {"every service": _SERVICES, "every worker": _SERVICES - {"gateway"}}


@dataclass(frozen=True)
class Documented:
    name: str
    type: str
    labels: frozenset[str]
    services: frozenset[str]


@dataclass(frozen=True)
class Exposed:
    name: str
    """As the ``# TYPE`` line names it (a counter's with ``_total``)."""
    type: str
    labels: frozenset[str]
    samples: tuple[tuple[str, dict[str, str], float], ...]
    """(sample name, labels, value) for every series."""


def documented() -> dict[str, Documented]:
    """The table's rows, by metric name."""
    rows: dict[str, Documented] = {}
    for line in DOCS.read_text().splitlines():
        if not line.startswith("| `claudecloud_"):
            continue
        name, kind, labels, _meaning, where = (
            c.strip() for c in line.strip().strip("|").split("|")
        )
        services = _GROUPS.get(where) or {s.strip() for s in where.split(",")}
        rows[name.strip("`")] = Documented(
            name.strip("`"),
            kind,
            frozenset(label.strip(" `") for label in labels.split(",") if label.strip()),
            frozenset(services),
        )
    return rows


def exposed(text: str) -> dict[str, Exposed]:
    """Every metric family in a ``/metrics`` answer, by the name its ``# TYPE`` line gives."""
    lines = (_TYPE_LINE.fullmatch(line) for line in text.splitlines())
    types = {m[1]: m[2] for m in lines if m}
    found = {name: Exposed(name, kind, frozenset(), ()) for name, kind in types.items()}
    for family in text_string_to_metric_families(text):
        name = next((n for n in (family.name, family.name + "_total") if n in types), None)
        if name is None:
            continue  # a counter's or histogram's *_created series, read as a family of its own
        samples = tuple((s.name, dict(s.labels), float(s.value)) for s in family.samples)
        labels = {k for _, labelset, _ in samples for k in labelset} - {"le", "quantile"}
        found[name] = Exposed(name, types[name], frozenset(labels), samples)
    return found


def problems(families: dict[str, Exposed]) -> list[str]:
    """Every way ``families`` break the naming and labelling rules (empty: none)."""
    found: list[str] = []
    for name, family in families.items():
        if name.startswith(LIBRARY_PREFIXES):
            continue
        if not _NAME.fullmatch(name):
            found.append(f"{name}: not claudecloud_<snake_case>")
        if (family.type == "counter") != name.endswith("_total"):
            found.append(f"{name}: a {family.type}; only counters end in _total")
        if family.type == "histogram" and not name.endswith(UNIT_SUFFIXES):
            found.append(f"{name}: a histogram in base units ends in {UNIT_SUFFIXES}")
        for label in family.labels:
            if label in FORBIDDEN_LABELS or any(p in label for p in FORBIDDEN_LABEL_PARTS):
                found.append(f"{name}: label {label!r} may carry an identity or a raw path")
        found.extend(_value_problems(name, family))
    return found


def _value_problems(name: str, family: Exposed) -> list[str]:
    found = []
    for _, labels, _ in family.samples:
        for label, value in labels.items():
            if _UUID.search(value) or "@" in value:
                found.append(f"{name}: {label}={value!r} carries an id or an address")
            if label == "route" and not _ROUTE.fullmatch(value):
                found.append(f"{name}: route={value!r} is not a route template")
            if label == "route" and any(part.isdigit() for part in value.split("/")):
                found.append(f"{name}: route={value!r} has a number in it, not a template")
    return found
