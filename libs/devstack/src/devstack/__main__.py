"""``make run``: the whole platform on its embedded defaults.

Honours ``PORT`` (8000), ``ADMIN_API_KEY`` (generated and printed when unset), ``DATA_DIR``
(``.data``), ``PROVIDER`` (docker when an engine answers, else the labelled demo), and
``DATABASE_URL`` / ``NATS_URL`` to use servers of your own instead of the embedded SQLite files
and NATS server. Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import threading
from pathlib import Path

from .engine import docker_answers, ensure_instance_image
from .stack import Stack, StackConfig

DEMO_BANNER = """
  ################################################################################
  #  DEMO MODE: PROVIDER=fake. No real machines are made; instances are simulated. #
  #  Set PROVIDER=docker (with a Docker engine running) for real workstations.     #
  ################################################################################
"""


def choose_provider() -> str:
    """``PROVIDER`` when set; otherwise docker when an engine answers, else the labelled demo."""
    chosen = os.environ.get("PROVIDER")
    if chosen:
        return chosen
    if docker_answers():
        return "docker"
    print("claudecloud: no Docker engine answers, so: demo mode", file=sys.stderr)
    return "fake"


def main() -> None:
    data_dir = Path(os.environ.get("DATA_DIR", ".data")).resolve()
    admin_key = os.environ.get("ADMIN_API_KEY") or secrets.token_urlsafe(32)
    port = int(os.environ.get("PORT", "8000"))
    config = StackConfig(
        data_dir=data_dir,
        port=port,
        nats_port=int(os.environ.get("NATS_PORT", "14222")),
        nats_url=os.environ.get("NATS_URL"),
        database_url=os.environ.get("DATABASE_URL"),
        admin_api_key=admin_key,
        provider=choose_provider(),
    )
    if config.provider == "docker":
        try:
            ensure_instance_image()
        except RuntimeError as exc:
            print(f"claudecloud: {exc}", file=sys.stderr)
            sys.exit(1)
    stack = Stack(config)
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        stack.start()
    except Exception as exc:
        print(f"claudecloud: could not start: {exc}", file=sys.stderr)
        stack.stop_all()
        sys.exit(1)
    if config.provider == "fake":
        print(DEMO_BANNER, file=sys.stderr)
    print(
        f"\n  ClaudeCloud is up:   http://localhost:{port}   (API docs: /docs)\n"
        f"  Admin API key:       {admin_key}\n"
        f"  Data:                {data_dir}\n  Ctrl-C stops everything.\n",
        file=sys.stderr,
    )
    while not stopping.is_set():
        for name, process in list(stack.processes.items()):
            if process.poll() is not None:
                print(f"claudecloud: {name} exited with {process.returncode}", file=sys.stderr)
                stopping.set()
        stopping.wait(1.0)
    print("claudecloud: stopping…", file=sys.stderr)
    stack.stop_all()


if __name__ == "__main__":
    main()
