"""``python -m billing.standin``: the local Stripe stand-in on its own."""

from __future__ import annotations

import argparse

from aiohttp import web

from .app import StandIn


def main() -> None:
    parser = argparse.ArgumentParser(description="A local Stripe stand-in: nothing is charged.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--webhook-url", required=True)
    parser.add_argument("--webhook-secret", required=True)
    parser.add_argument("--public-url", default=None)
    args = parser.parse_args()
    public = args.public_url or f"http://{args.host}:{args.port}"
    standin = StandIn(
        webhook_url=args.webhook_url, webhook_secret=args.webhook_secret, public_url=public
    )
    print(f"local Stripe stand-in on {public} (nothing is charged)", flush=True)
    web.run_app(standin.app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()


if __name__ == "__main__":
    main()
