"""A stand-in's ASGI app served by uvicorn in a thread of its own, so a test may block its event
loop (a subprocess, a sync client) while the stand-in answers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def serving_in_thread(app: Any, host: str, port: int, what: str) -> Iterator[None]:
    """Serve ``app`` on ``host:port`` until the block ends; fails if it is not listening within
    30 s (or its thread died)."""
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:  # a thread's flag: polled, within the deadline
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start listening")
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)
