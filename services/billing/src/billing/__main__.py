"""``python -m billing``: run the billing worker (and Stripe's webhook, on a port of its own)."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from claudecloud_common.settings import ConfigurationError
from claudecloud_common.worker import serve

from .app import create_app
from .settings import BillingSettings


def main() -> None:
    try:
        settings = BillingSettings()
    except (ConfigurationError, ValidationError) as exc:
        # Before anything listens: say every problem at once, no traceback.
        print(exc, file=sys.stderr)
        sys.exit(2)
    # The worker's own port (internal) and the webhook's (what Stripe reaches), in one server.
    webhook = (settings.webhook_bind_host, settings.webhook_port)
    serve(create_app(settings), settings.http_host, settings.http_port, also=[webhook])


if __name__ == "__main__":
    main()
