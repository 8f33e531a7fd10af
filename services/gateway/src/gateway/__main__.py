"""``python -m gateway``: run the gateway."""

from __future__ import annotations

from claudecloud_common.worker import serve

from .app import create_app
from .settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    serve(create_app(settings), settings.http_host, settings.http_port)


if __name__ == "__main__":
    main()
