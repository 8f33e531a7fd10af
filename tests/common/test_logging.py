"""What a healthy worker prints: FastStream's housekeeping is not reported as a failure."""

from __future__ import annotations

import logging
import sys

from claudecloud_common.logging import FastStreamNoise


def _record(name: str, message: str, error: BaseException | None = None) -> logging.LogRecord:
    exc_info = None
    if error is not None:
        try:
            raise error
        except BaseException:
            exc_info = sys.exc_info()
    return logging.LogRecord(name, logging.ERROR, __file__, 1, message, None, exc_info)


def test_an_idle_fetch_timing_out_is_not_logged_as_an_error() -> None:
    noise = FastStreamNoise()
    idle = _record("faststream", "Task-7 raised an exception, retrying...", TimeoutError())
    assert noise.filter(idle) is False


def test_a_real_failure_of_the_fetch_loop_is_still_logged() -> None:
    noise = FastStreamNoise()
    broken = _record("faststream", "Task-7 raised an exception, retrying...", OSError("gone"))
    assert noise.filter(broken) is True


def test_shutdown_chatter_is_dropped_and_other_lines_kept() -> None:
    noise = FastStreamNoise()
    assert (
        noise.filter(_record("faststream.app", "callback for Task-15 is being executed..."))
        is False
    )
    assert noise.filter(_record("faststream.app", "FastStream app started successfully!")) is True
    assert noise.filter(_record("provisioner", "callback for Task-15 is being executed...")) is True
