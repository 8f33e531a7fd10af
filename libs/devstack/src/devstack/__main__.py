"""``make run``: the whole platform on its embedded defaults.

Honours ``PORT`` (8000), ``ADMIN_API_KEY`` (generated and printed when unset), ``DATA_DIR``
(``.data``), ``PROVIDER`` (docker when an engine answers, else the labelled demo), ``NATS_PORT``
(free when unset), ``DATABASE_URL`` / ``NATS_URL`` to use servers of your own instead of the
embedded SQLite files and NATS server, and every service's own settings (``GATEWAY_*``,
``PROVISIONER_*``, ...) as they are documented, ``<SERVICE>_HTTP_PORT`` included (free when
unset). Billing is on (``BILLING_ENABLED=false`` turns it off): against Stripe when
``STRIPE_SECRET_KEY`` is set, else against a local stand-in the billing service serves, labelled
in the banner, which also gives Stripe's webhook address (``BILLING_WEBHOOK_PORT``, free when
unset: forward Stripe's CLI there). The URL is printed once every service answers its health
check; a service that exits during start is named with its last lines and the launcher exits 1.
Afterwards a service that exits is restarted with backoff. Ctrl-C (or SIGTERM) stops everything;
should the launcher itself be killed, the kernel stops every process it started.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from .engine import docker_answers, ensure_instance_image
from .processes import ChildFailed
from .services import SERVICES
from .stack import Stack, StackConfig, free_port, plan_services
from .supervisor import Supervisor, say
from .web import ensure_web

DEMO_BANNER = """
  ################################################################################
  #  DEMO MODE: PROVIDER=fake. No real machines are made; instances are simulated. #
  #  Set PROVIDER=docker (with a Docker engine running) for real workstations.     #
  ################################################################################
"""


STANDIN_BANNER = """
  ################################################################################
  #  BILLING: local Stripe stand-in. Nothing is charged: Checkout's "Pay" button  #
  #  completes the payment. Set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET for    #
  #  Stripe, or BILLING_ENABLED=false for free instances.                          #
  ################################################################################
"""


def choose_billing() -> str:
    """Billing is on unless ``BILLING_ENABLED=false``; without a Stripe key, against the local
    stand-in the billing service serves (``off``, ``stripe`` or ``standin``)."""
    env = os.environ  # what every service inherits
    env.setdefault("BILLING_ENABLED", "true")
    if env["BILLING_ENABLED"].strip().lower() in ("false", "0", "no", "off"):
        return "off"
    if env.get("BILLING_STRIPE_SECRET_KEY") or env.get("STRIPE_SECRET_KEY"):
        return "stripe"
    env.setdefault("BILLING_STRIPE_STANDIN", "true")
    return "standin"


MAKE_RUN_POOL_SIZE = 2


def choose_provider() -> str:
    """``PROVIDER`` (or ``PROVISIONER_PROVIDER``) when set; otherwise docker when an engine
    answers, else the labelled demo."""
    chosen = os.environ.get("PROVISIONER_PROVIDER") or os.environ.get("PROVIDER")
    if chosen:
        return chosen
    if docker_answers():
        return "docker"
    say("no Docker engine answers, so: demo mode")
    return "fake"


def config_from_environment() -> StackConfig:
    env = os.environ
    public = next(s for s in SERVICES if s.public)
    port = int(env.get(public.port_variable) or env.get("PORT") or 8000)
    admin_key = env.get("GATEWAY_ADMIN_API_KEY") or env.get("ADMIN_API_KEY")
    config = StackConfig(
        data_dir=Path(env.get("DATA_DIR", ".data")).resolve(),
        port=port,
        nats_port=int(env.get("NATS_PORT") or free_port()),
        nats_url=env.get("NATS_URL"),
        database_url=env.get("DATABASE_URL"),
        provider=choose_provider(),
        services=plan_services(port, environ=env),
    )
    if admin_key:
        config.admin_api_key = admin_key
    return config


class Stop(Exception):
    """A signal asked the launcher to stop."""


def _raise_stop(signum: int, _: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)


def banner(config: StackConfig, environ: Mapping[str, str] | None = None) -> str:
    """What ``make run`` prints once everything answers: the URL, the operator key, where the
    data and the bus are, and each public listener of a service (Stripe's webhook: its port is
    free, so it changes every run)."""
    lines = [
        f"  ClaudeCloud is up:   http://localhost:{config.port}   (API docs: /docs)",
        f"  Admin API key:       {config.admin_api_key}",
        f"  Data:                {config.data_dir}",
        f"  Bus:                 {config.resolved_nats_url}",
        *_listener_lines(config, os.environ if environ is None else environ),
        "  Ctrl-C stops everything.",
    ]
    return "\n" + "\n".join(lines) + "\n"


def _listener_lines(config: StackConfig, environ: Mapping[str, str]) -> list[str]:
    lines = []
    for spec in config.services:
        if spec.name != spec.service.name:
            continue  # another replica: the first one's address is enough
        for listener in spec.service.listeners:
            if listener.when is None or listener.when(environ):
                label = f"{listener.title}:"
                lines.append(f"  {label:<21}{spec.listener_url(listener.setting, 'localhost')}")
    return lines


def main() -> None:
    config = config_from_environment()
    billing = choose_billing()
    if config.provider == "docker":
        try:
            ensure_instance_image()
        except RuntimeError as exc:
            say(str(exc))
            sys.exit(1)
        # Two started machines wait for creates (a new workstation runs in milliseconds);
        # production keeps none unless it says so.
        os.environ.setdefault("PROVISIONER_WARM_POOL_SIZE", str(MAKE_RUN_POOL_SIZE))
    if not os.environ.get("GATEWAY_WEB_DIR"):  # yours is served as it is
        web = ensure_web()  # the dashboard under /, built when missing or stale
        if web:
            os.environ["GATEWAY_WEB_DIR"] = web
    stack = Stack(config)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_stop)
    try:
        stack.start()
    except (ChildFailed, RuntimeError) as exc:
        say(f"could not start: {exc}")
        stack.stop_all()
        sys.exit(1)
    except Stop:
        stack.stop_all()
        sys.exit(1)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stopping.set())
    if config.provider == "fake":
        print(DEMO_BANNER, file=sys.stderr)
    if billing == "standin":
        print(STANDIN_BANNER, file=sys.stderr)
    print(banner(config), file=sys.stderr, flush=True)
    Supervisor(stack).run(stopping)
    say("stopping…")
    stack.stop_all()


if __name__ == "__main__":
    main()
