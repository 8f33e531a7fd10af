"""``make chaos``: N lifecycles (create, pause, wake, destroy) from several signed-in clients
over the HTTP API while services (provisioner, gateway, billing, activity) are SIGKILLed and
NATS is killed and started again at random moments; ``make run``'s supervisor restarts each.
Billing is on as under ``make run``: each client's first create is paid on the local Stripe
stand-in (its own process: Stripe is not ours to kill; failed webhooks are sent again, as Stripe
does) and its last lifecycle cancels the subscription, which pauses the instance.
Then everything is restarted, the platform left to settle, and counted: commands accepted,
completed, lost, doubled (provider calls per command), stuck, orphans; then
``claude-cloud-admin check``. Exit 0 only when all are zero. PostgreSQL with durable defaults.

    make chaos N=100 KILLS=20
    uv run python -m bench.chaos --lifecycles 100 --kills 20 [--clients 8] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from devstack.engine import docker_answers, ensure_instance_image
from devstack.servers import PostgresServer, create_database

from .faults import FaultPlan
from .figures import report
from .run import ChaosPlan, run_chaos


async def main(plan: ChaosPlan, keep: bool) -> int:
    if plan.provider == "docker":
        if not docker_answers():
            sys.exit("no Docker engine answers: run scripts/docker-engine.sh (make docker-engine)")
        await asyncio.to_thread(ensure_instance_image)
    postgres = await asyncio.to_thread(PostgresServer(durable=True).start)
    folder = Path(tempfile.mkdtemp(prefix="cc-chaos-"))
    try:
        database_url = await create_database(postgres.url, "cc_chaos")
        faults = plan.faults
        print(
            f"chaos: {plan.lifecycles} lifecycles from {plan.clients} clients"
            f"{' (billing on)' if plan.billing else ''}, {faults.kills} "
            f"kills and {faults.nats_restarts} NATS restarts about every {faults.every:g}s "
            f"(seed {faults.seed}); logs in {folder / 'logs'}",
            flush=True,
        )
        figures, log, platform = await run_chaos(plan, folder, database_url=database_url)
    finally:
        await asyncio.to_thread(postgres.stop)
    print("\nfaults:", ", ".join(log.at) or "none")
    print("supervisor:", *platform.said[-60:], sep="\n  ")
    print()
    print(report(figures, log))
    if not keep and figures.clean:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    return 0 if figures.clean else 1


def parse(argv: list[str]) -> tuple[ChaosPlan, bool]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--lifecycles", type=int, default=100)
    parser.add_argument("--kills", type=int, default=20, help="services SIGKILLed")
    parser.add_argument("--nats-restarts", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8, help="signed-in users at once")
    parser.add_argument("--every", type=float, default=3.0, help="mean seconds between faults")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--provider",
        choices=["fake", "docker"],
        default="fake",
        help="docker: real containers (a Docker engine and the instance image; slower)",
    )
    parser.add_argument(
        "--billing",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="as make run: creates need a subscription, each client's first paid on the local "
        "Stripe and its last lifecycle canceling it (--no-billing: free instances)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs of a clean run too")
    args = parser.parse_args(argv)
    faults = FaultPlan(args.kills, args.nats_restarts, args.every, args.seed)
    plan = ChaosPlan(
        args.lifecycles, args.clients, faults, provider=args.provider, billing=args.billing
    )
    return plan, args.keep


if __name__ == "__main__":
    plan, keep = parse(sys.argv[1:])
    sys.exit(asyncio.run(main(plan, keep)))
