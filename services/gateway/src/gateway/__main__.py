"""``python -m gateway``: run the gateway."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from claudecloud_common.settings import ConfigurationError
from claudecloud_common.worker import serve

from .app import create_app
from .settings import GatewaySettings


def main() -> None:
    try:
        settings = GatewaySettings()
        app = create_app(settings)
    except (ConfigurationError, ValidationError) as exc:
        # Before anything listens: say every problem at once, no traceback.
        print(exc, file=sys.stderr)
        sys.exit(2)
    workstations = (
        [(settings.agent_bind_host, settings.agent_port)] if settings.agent_port is not None else []
    )
    serve(
        app,
        settings.http_host,
        settings.http_port,
        max_header_bytes=settings.max_header_bytes,
        also=workstations,
    )


if __name__ == "__main__":
    main()
