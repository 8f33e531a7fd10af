"""A local OpenTelemetry collector for tests and benchmarks: receives OTLP/HTTP trace exports
(protobuf, as the OTLP exporter sends them to ``/v1/traces``) and keeps the spans to read."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from devstack import free_port
from devstack.waiting import eventually

__all__ = ["Collector", "ReceivedSpan", "collector"]


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    start_ns: int
    attributes: dict[str, str]


class Collector:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.spans: list[ReceivedSpan] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/v1/traces":
            self._keep(ExportTraceServiceRequest.FromString(body))
        answer = ExportTraceServiceResponse().SerializeToString()
        headers = [(b"content-type", b"application/x-protobuf")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    def _keep(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "?",
            )
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            service=service,
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            start_ns=span.start_time_unix_nano,
                            attributes={a.key: a.value.string_value for a in span.attributes},
                        )
                    )

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        """Every span of one trace, in the order they started."""
        return sorted((s for s in self.spans if s.trace_id == trace_id), key=lambda s: s.start_ns)


@contextlib.asynccontextmanager
async def collector() -> AsyncIterator[Collector]:
    """A collector listening on a free port for the duration of the block."""
    port = free_port()
    found = Collector(port)
    server = uvicorn.Server(
        uvicorn.Config(found, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, timeout=10, what="the collector listening")
    try:
        yield found
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
