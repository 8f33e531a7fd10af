"""Traces: OpenTelemetry in every service, carried across the bus in message headers.

Each process names itself (``service.name``) and exports its spans over OTLP/HTTP when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; otherwise no SDK is installed and every span is the API's
no-op (a context lookup, nothing recorded). FastStream's middleware opens a span for each message
handled and published through it, reading the W3C ``traceparent`` header; our own publishes (raw
JetStream publishes, the outbox relay, rpc requests) add that header themselves, so one trace
follows a request from the gateway through every service it reaches.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

__all__ = [
    "TRACEPARENT",
    "add_trace_ids",
    "configure_tracing",
    "context_from",
    "current_traceparent",
    "get_tracer",
    "trace_headers",
    "tracing_enabled",
]

TRACEPARENT = "traceparent"

_configured: dict[str, TracerProvider] = {}


def configure_tracing(
    service_name: str, endpoint: str | None, *, exporter: SpanExporter | None = None
) -> None:
    """Install the SDK for this process when spans have somewhere to go: the OTLP endpoint, or
    ``exporter`` (tests). Once per process; later calls change nothing."""
    if _configured or (endpoint is None and exporter is None):
        return
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")  # type: ignore[union-attr]
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=200))
    trace.set_tracer_provider(provider)
    _configured[service_name] = provider


def tracing_enabled() -> bool:
    """Whether this process records spans (instrumentation is skipped when it does not)."""
    return bool(_configured)


def get_tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def trace_headers() -> dict[str, str]:
    """The current span's context as message headers (empty when nothing is recorded)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def current_traceparent() -> str | None:
    """The current span's ``traceparent``, to store beside an outbox row."""
    return trace_headers().get(TRACEPARENT)


def context_from(traceparent: str | None) -> Context | None:
    """The context a stored ``traceparent`` names (None when there is none)."""
    if not traceparent:
        return None
    return propagate.extract({TRACEPARENT: traceparent})


def add_trace_ids(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: ``trace_id`` and ``span_id`` on every line written inside a span."""
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        event.setdefault("trace_id", format(span.trace_id, "032x"))
        event.setdefault("span_id", format(span.span_id, "016x"))
    return event
