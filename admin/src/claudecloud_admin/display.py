"""How the admin's commands print: aligned tables, ages, one-line previews with secrets masked."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import typer

__all__ = ["age", "clip", "error_text", "preview", "table"]

PREVIEW_CHARS = 96
_SECRET_FIELD = re.compile(r"secret|token|password|passwd|authorization|cookie|key", re.I)
_INPUT_VALUE = re.compile(r"input_value=.*?(?=, input_type=|\]|$)")
"""Pydantic's validation errors quote the value they refused, a secret as readily as any."""
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""Control characters: a message body must not move the operator's cursor or recolour the
terminal."""


def preview(body: bytes) -> str:
    """A one-line look at a message body, with every field that may hold a secret masked."""
    try:
        text = json.dumps(_masked(json.loads(body)), separators=(",", ":"))
    except ValueError:
        text = body.decode("utf-8", errors="replace")
    return clip(text, PREVIEW_CHARS)


def error_text(error: str, width: int) -> str:
    """A dead letter's error on one line, without the input values a validation error quotes."""
    return clip(_INPUT_VALUE.sub("input_value=***", error), width)


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: "***" if _SECRET_FIELD.search(str(k)) and v is not None else _masked(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def clip(text: str, width: int) -> str:
    flat = _UNPRINTABLE.sub("?", " ".join(text.split()))
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def age(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "never"
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
