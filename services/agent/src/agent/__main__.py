"""``python -m agent``: serve the agent (the supervisor restarts it if it dies)."""

from __future__ import annotations

import uvicorn

from .app import create_app
from .settings import AgentSettings


def main() -> None:
    settings = AgentSettings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=2,
        ws_max_size=settings.ws_max_message_bytes,
        ws="websockets-sansio",
    )


if __name__ == "__main__":
    main()
