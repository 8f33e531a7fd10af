"""``python -m webhooks``: run the webhooks worker (and its deliveries)."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from claudecloud_common.settings import ConfigurationError
from claudecloud_common.worker import serve

from .app import create_app
from .settings import WebhooksSettings


def main() -> None:
    try:
        settings = WebhooksSettings()
    except (ConfigurationError, ValidationError) as exc:
        # Before anything listens: say every problem at once, no traceback.
        print(exc, file=sys.stderr)
        sys.exit(2)
    serve(create_app(settings), settings.http_host, settings.http_port)


if __name__ == "__main__":
    main()
