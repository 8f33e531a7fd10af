"""Prometheus metrics every service shares: HTTP requests, the bus, the outbox's backlog.

Services add their own next to their code (``<service>/metrics.py``); ``docs/metrics.md`` lists
them all. A label value is always drawn from a set the code fixes (a route template, a subject our
contracts name, an outcome): never an id, a raw path or anything else a client chooses, so the
number of series stays bounded whatever the traffic.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from faststream.asgi.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import REGISTRY, Counter, Histogram, disable_created_metrics
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = [
    "BUS_DEAD_LETTERS",
    "BUS_HANDLED",
    "BUS_HANDLER_SECONDS",
    "BUS_RETRIES",
    "HTTP_REQUESTS",
    "HTTP_SECONDS",
    "OUTBOX_BACKLOG",
    "Backlog",
    "HttpMetrics",
    "subject_label",
]

# The text format shows when each counter and histogram series was created as a gauge series of
# its own (``*_created``): twice the series, and nothing reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

BUS_HANDLED = Counter(
    "claudecloud_bus_messages_total",
    "Bus messages handled, by subject and outcome (ok, retried, dead_lettered, failed).",
    ["subject", "outcome"],
)
BUS_RETRIES = Counter(
    "claudecloud_bus_retries_total", "Bus messages handed back for redelivery.", ["subject"]
)
BUS_DEAD_LETTERS = Counter(
    "claudecloud_bus_dead_letters_total", "Bus messages moved to dlq.<subject>.", ["subject"]
)
BUS_HANDLER_SECONDS = Histogram(
    "claudecloud_bus_handler_seconds", "Time spent in bus handlers.", ["subject"]
)
HTTP_REQUESTS = Counter(
    "claudecloud_http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "claudecloud_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
)

OTHER = "other"
"""The label value for anything outside the fixed set (an unknown subject, method or route)."""

_SUBJECT_ROOTS = ("cmd.", "evt.", "rpc.")


@functools.cache
def _known_subjects() -> frozenset[str]:
    """Every subject the contracts name (a subject is always a member of a ``StrEnum`` in
    ``claudecloud_common.contracts``): loaded once, on the first message."""
    package = importlib.import_module(f"{__package__}.contracts")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    return frozenset(_enum_subjects(StrEnum, package.__name__))


def _enum_subjects(base: type[StrEnum], package: str) -> Iterable[str]:
    for enum in base.__subclasses__():
        yield from _enum_subjects(enum, package)
        if not enum.__module__.startswith(package):
            continue
        for member in enum:
            value = str(member.value)
            if value.startswith(_SUBJECT_ROOTS) and not value.endswith((">", "*")):
                yield value


def subject_label(subject: str) -> str:
    """``subject`` as a label value: itself when a contract names it (``dlq.`` + one too),
    ``other`` otherwise, so nothing a publisher puts in a subject becomes a series of its own."""
    return subject if subject.removeprefix("dlq.") in _known_subjects() else OTHER


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetrics:
    """ASGI middleware counting each HTTP request by method, route template and status code,
    and timing it. ``route`` is the template itself (a worker's fixed path) or a function that
    reads it from the scope once the app has routed the request (the gateway's)."""

    def __init__(self, app: ASGIApp, *, route: str | Callable[[Scope], str]) -> None:
        self.app = app
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before it starts a response

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else OTHER
            route = self.route if isinstance(self.route, str) else self.route(scope)
            count, timing = _http_series(method, route, status)
            count.inc()
            timing.observe(time.perf_counter() - started)


@functools.cache
def _http_series(method: str, route: str, status: int) -> tuple[Counter, Histogram]:
    # Looked up once per combination (a bounded set): .labels() costs more than the request's
    # whole bookkeeping otherwise.
    return HTTP_REQUESTS.labels(method, route, str(status)), HTTP_SECONDS.labels(method, route)


@dataclass
class Backlog:
    """One outbox relay's latest look at its table."""

    pending: int = 0
    """Rows not yet published."""
    oldest: float | None = None
    """When the oldest of them was written (Unix time), None when there are none."""


class _OutboxBacklog(Collector):
    """``claudecloud_outbox_*`` from what each running relay last measured: no query per
    scrape (a scrape never waits on the database); the age is worked out at scrape time, so it
    keeps growing while nothing goes out."""

    def __init__(self) -> None:
        self._backlogs: list[Backlog] = []

    def track(self) -> Backlog:
        backlog = Backlog()
        self._backlogs.append(backlog)
        return backlog

    def untrack(self, backlog: Backlog) -> None:
        self._backlogs = [b for b in self._backlogs if b is not backlog]

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        if not self._backlogs:
            return []  # a process without a relay (the gateway) does not show them at all
        pending, age = self._families()
        oldest = [b.oldest for b in self._backlogs if b.oldest is not None]
        pending.add_metric([], sum(b.pending for b in self._backlogs))
        age.add_metric([], max(0.0, time.time() - min(oldest)) if oldest else 0.0)
        return [pending, age]

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "claudecloud_outbox_pending_messages",
                "Outbox rows written but not yet published.",
            ),
            GaugeMetricFamily(
                "claudecloud_outbox_oldest_pending_age_seconds",
                "Age of the oldest outbox row not yet published (0 when none).",
            ),
        ]


OUTBOX_BACKLOG = _OutboxBacklog()
REGISTRY.register(OUTBOX_BACKLOG)
