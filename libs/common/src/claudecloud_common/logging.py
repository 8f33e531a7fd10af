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

from .settings import Environment, ServiceSettings

__all__ = ["FastStreamNoise", "bind_correlation", "configure_logging", "get_logger"]


def configure_logging(settings: ServiceSettings) -> None:
    """Configure structlog and the standard library once, at process start."""
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
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
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
    structlog.contextvars.bind_contextvars(service=settings.service_name)


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
