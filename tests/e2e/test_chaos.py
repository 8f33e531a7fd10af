"""Chaos, the short version of ``make chaos``: 20 lifecycles from several signed-in clients (billing
on: paid creates and cancels among them) while services are SIGKILLed and NATS is killed, each
brought back by ``make run``'s supervisor; then everything restarted. Nothing accepted is lost,
nothing is done twice, nothing is left stuck or orphaned, and the operator's check agrees."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import ChaosPlan, FaultPlan, report, run_chaos

PLAN = ChaosPlan(
    lifecycles=20,
    clients=4,
    faults=FaultPlan(kills=5, nats_restarts=1, every=2.0),
    billing=True,
    settle=300,
)


@pytest.mark.timeout(900)
async def test_lifecycles_under_kills_lose_nothing_and_do_nothing_twice(
    pg_server_url: str, tmp_path: Path
) -> None:
    figures, faults, _ = await run_chaos(PLAN, tmp_path, database_url=pg_server_url)
    figures_text = report(figures, faults)
    print(figures_text)
    if not figures.clean:
        for log in sorted((tmp_path / "logs").glob("*.log")):
            print(f"----- {log.name} -----\n{log.read_text(errors='replace')[-4000:]}")

    # Every fault landed among the lifecycles (they are spread over the faults).
    assert (figures.kills, figures.nats_restarts) == (5, 1), figures_text
    assert figures.lifecycles_done == 20, figures_text
    # Each client's first create paid on Stripe's page, its last lifecycle canceling (a pause).
    assert (figures.paid, figures.canceled) == (4, 4), figures_text
    # Six commands a lifecycle (create, freeze, wake, stop, wake, destroy), and the 4 cancels.
    assert figures.accepted == figures.completed == 20 * 6 + 4, figures_text
    lost_doubled_stuck_orphans = (figures.lost, figures.doubled, figures.stuck, figures.orphans)
    assert lost_doubled_stuck_orphans == (0, 0, 0, 0), figures_text
    assert figures.check_exit in (0, None), figures_text  # None: no check command yet
