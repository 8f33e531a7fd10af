"""``python -m agent``: serve the agent (the supervisor restarts it if it dies)."""

from __future__ import annotations

import ctypes
import sys

import uvicorn

from .app import create_app
from .git import bind_local_socket
from .settings import AgentSettings


def main() -> None:
    _undumpable()
    settings = AgentSettings()
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=2,
        ws_max_size=settings.ws_max_message_bytes,
        ws="websockets-sansio",
        # The gateway pings; pings from here would end every connection at a thaw, their
        # answers due while the instance was frozen and could not read them.
        ws_ping_interval=None,
    )
    # One server on the agent's port and on the credential helper's Unix socket (agent.git).
    sockets = [config.bind_socket()]
    local = bind_local_socket(settings)
    if local is not None:
        sockets.append(local)
    server = uvicorn.Server(config)
    server.run(sockets=sockets)
    if not server.started:
        raise SystemExit(3)


def _undumpable() -> None:
    """The user's processes run as this uid: without this they could read this process's memory
    (``/proc/PID/mem``, ptrace), where each caller's secret passes. Its children (tmux, Claude)
    are dumpable again once they exec, as usual."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


_PR_SET_DUMPABLE = 4


if __name__ == "__main__":
    main()
