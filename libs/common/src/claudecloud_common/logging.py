"""Structured logging: dotted event names with fields, the correlation id on every line.

JSON in production, ``key=value`` (logfmt) in development. Standard-library loggers (uvicorn,
FastStream) go through the same renderer so a process prints one format.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog
from pydantic import ValidationError

from .settings import Environment, ServiceSettings
from .telemetry import add_trace_ids, configure_tracing

__all__ = [
    "FastStreamNoise",
    "bind_correlation",
    "configure_logging",
    "describe_error",
    "escape_controls",
    "get_logger",
]


def configure_logging(settings: ServiceSettings) -> None:
    """Configure structlog and the standard library once, at process start (and tracing, which
    puts its ids on every line)."""
    configure_tracing(settings.service_name, settings.otel_exporter_otlp_endpoint)
    fmt = settings.log_format
    if fmt == "auto":
        fmt = "json" if settings.environment is Environment.PRODUCTION else "console"
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.processors.LogfmtRenderer(key_order=["timestamp", "level", "event"])
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_ids,
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,  # drop below-level lines before any work is done
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _drop_colour_copy],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # JSON escapes every control character itself; logfmt writes them as they are.
            *([] if fmt == "json" else [escape_controls]),
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(FastStreamNoise())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # FastStream gives its logger a handler and format of its own; ours renders it instead.
    faststream = logging.getLogger("faststream")
    faststream.handlers.clear()
    faststream.propagate = True
    faststream.setLevel(logging.NOTSET)  # the root level decides, as for every logger
    structlog.contextvars.bind_contextvars(service=settings.service_name)


_MULTILINE = frozenset({"exception", "stack"})
"""Fields whose line breaks are kept (tracebacks); their other control characters are not."""


def escape_controls(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Escape control and invisible formatting characters in every string of a log line.

    Values often carry what a request said (an address, a path, an error about either): an ESC
    sequence, a NUL, a line break or a right-to-left override in one must reach a terminal or a
    log viewer as text (``\\x1b``), never act there or forge a line.
    """
    for key, value in event.items():
        event[key] = _escaped(value, keep_newlines=key in _MULTILINE)
    return event


def _escaped(value: Any, *, keep_newlines: bool = False) -> Any:
    if isinstance(value, str):
        if value.isprintable():  # the usual case, checked at C speed
            return value
        return "".join(_escape_char(c, keep_newlines) for c in value)
    if isinstance(value, dict):
        return {_escaped(k): _escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(v) for v in value]
    return value


def _escape_char(char: str, keep_newlines: bool) -> str:
    # ``isprintable`` is False for every Unicode "Other" or "Separator" character but the space.
    if char.isprintable() or (keep_newlines and char == "\n"):
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _drop_colour_copy(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    event.pop("color_message", None)  # uvicorn's coloured duplicate of the message
    return event


class FastStreamNoise(logging.Filter):
    """Drops what FastStream logs about its own housekeeping, which reads like a failure.

    An idle pull consumer's fetch can end in the builtin ``TimeoutError`` (nats-py raises it when
    the deadline runs out between two steps of a fetch) instead of the NATS timeout FastStream
    expects; FastStream then logs the traceback at ERROR and restarts the fetch loop, which is
    exactly what should happen on an idle subject. Its per-task "callback ... is being executed"
    lines at shutdown say nothing either. Everything else from FastStream is kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("faststream"):
            return True
        message = record.getMessage()
        if "is being executed" in message and message.startswith("callback for"):
            return False
        if record.exc_info and "raised an exception, retrying" in message:
            error = record.exc_info[1]
            return type(error) is not TimeoutError  # the builtin, not a NATS error
        return True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)


@contextmanager
def bind_correlation(correlation_id: str | None, **fields: Any) -> Iterator[None]:
    """Bind the correlation id (and any fields) to every log line inside the block."""
    values = {"correlation_id": correlation_id, **fields} if correlation_id else fields
    with structlog.contextvars.bound_contextvars(**values):
        yield


def describe_error(exc: BaseException) -> str:
    """An error for a log line or a dead letter, on one line: its type and message (never empty:
    a timeout's message is), and for a validation error each field and reason, never the refused
    input (it may be a secret)."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ValidationError):
        problems = exc.errors(include_input=False, include_url=False)
        text = "ValidationError: " + "; ".join(
            f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems
        )
    return " ".join(text.split())
