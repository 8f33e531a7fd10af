"""What reaches the log is escaped: a control character from a request (an ESC sequence, NUL,
DEL, a right-to-left override) never reaches a terminal or a log viewer raw (issue 14,
finding 5)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HOSTILE = "a\x1b[2Jb\x00c\x7fd\u202ee\u200bf\r\ng"
RAW = ["\x1b", "\x00", "\x7f", "\u202e", "\u200b", "\r"]

_PROGRAM = """
import logging, sys
from gateway.settings import GatewaySettings
from claudecloud_common.logging import configure_logging, get_logger

configure_logging(GatewaySettings(log_format=sys.argv[1], jwt_secret="s" * 40))
hostile = HOSTILE
get_logger("probe").warning("auth.login.refused", email=hostile, nested={"to": [hostile]})
logging.getLogger("uvicorn.error").warning("Invalid path %s", hostile)
try:
    raise ValueError(hostile)
except ValueError:
    get_logger("probe").exception("http.unhandled_error", path=hostile)
"""


def _log_of(fmt: str) -> str:
    ran = subprocess.run(
        [sys.executable, "-c", f"HOSTILE = {HOSTILE!r}\n{_PROGRAM}", fmt],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
        timeout=60,
    )
    return ran.stderr


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_control_characters_are_escaped_in_every_log_line(fmt: str) -> None:
    log = _log_of(fmt)
    for raw in RAW:
        assert raw not in log, (raw, log)
    lines = [line for line in log.splitlines() if line.strip()]
    events = [line for line in lines if "auth.login.refused" in line]
    assert len(events) == 1, log  # the CR LF did not make a second, forged line
    assert "Invalid path" in log
    assert "http.unhandled_error" in log
    if fmt == "json":
        for line in lines:
            if line.startswith("{"):
                json.loads(line)
    else:
        assert "\\x1b[2J" in events[0], events[0]
        assert "\\u202e" in events[0], events[0]
