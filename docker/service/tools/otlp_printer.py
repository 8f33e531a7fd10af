"""An OpenTelemetry collector stand-in for a stack without one (the compose file's ``otel``
profile): receives OTLP/HTTP trace exports (protobuf on ``/v1/traces``, as the services' exporter
sends them to ``OTEL_EXPORTER_OTLP_ENDPOINT``) on ``PORT`` (default 4318) and prints each span as
one JSON line, as a collector's debug exporter does: ``docker-compose logs otel-collector``.
Runs from the service image (the exporter's own protobuf classes decode the requests).
"""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

MAX_BODY = 16 << 20


def spans(request: ExportTraceServiceRequest) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
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
                found.append(
                    {
                        "service": service,
                        "name": span.name,
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_id": span.parent_span_id.hex(),
                        "duration_ms": round(
                            (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6, 3
                        ),
                        "error": span.status.code == span.status.STATUS_CODE_ERROR,
                    }
                )
    return found


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.path != "/v1/traces" or not 0 <= length <= MAX_BODY:
            self.send_error(404 if self.path != "/v1/traces" else 413)
            return
        for span in spans(ExportTraceServiceRequest.FromString(self.rfile.read(length))):
            print(json.dumps(span), flush=True)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self) -> None:
        body = b'{"status": "ok"}'
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Requests are not logged: the spans are the output."""


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "4318"))
    print(json.dumps({"event": "otlp_printer.started", "port": port}), flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Receiver).serve_forever()  # noqa: S104
