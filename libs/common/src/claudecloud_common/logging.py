"""Structured logging: dotted event names with fields, the correlation id on every line.

JSON in production, ``key=value`` (logfmt) in development. Standard-library loggers (uvicorn,
FastStream) go through the same renderer so a process prints one format.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from .settings import Environment, ServiceSettings

__all__ = ["bind_correlation", "configure_logging", "get_logger"]


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
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    structlog.contextvars.bind_contextvars(service=settings.service_name)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)


@contextmanager
def bind_correlation(correlation_id: str | None, **fields: Any) -> Iterator[None]:
    """Bind the correlation id (and any fields) to every log line inside the block."""
    values = {"correlation_id": correlation_id, **fields} if correlation_id else fields
    with structlog.contextvars.bound_contextvars(**values):
        yield
