"""``python -m netbird``: run the netbird worker (and its setup-key cleanup)."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from claudecloud_common.settings import ConfigurationError
from claudecloud_common.worker import serve

from .app import create_app
from .settings import NetbirdSettings


def main() -> None:
    try:
        settings = NetbirdSettings()
    except (ConfigurationError, ValidationError) as exc:
        # Before anything listens: say every problem at once, no traceback.
        print(exc, file=sys.stderr)
        sys.exit(2)
    serve(create_app(settings), settings.http_host, settings.http_port)


if __name__ == "__main__":
    main()
