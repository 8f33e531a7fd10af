"""What a chaos run counts, from the clients' records, the instance rows (the API) and the
provider's own account of its calls, and the operator's reconciliation check."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .client import Command
from .faults import FaultLog
from .machines import Machines

TRANSITIONAL = frozenset({"provisioning", "pausing", "waking", "destroying"})
LIVE = frozenset({"provisioning", "running", "pausing", "paused", "frozen", "waking", "destroying"})
CHECK_TIMEOUT_SECONDS = 120.0


@dataclass
class Figures:
    lifecycles: int = 0
    lifecycles_done: int = 0
    accepted: int = 0
    completed: int = 0
    lost: int = 0
    refused: int = 0
    paid: int = 0
    """Creates by paying on Stripe's Checkout page (with billing on)."""
    canceled: int = 0
    """Pauses by canceling the subscription (with billing on)."""
    doubled: int = 0
    stuck: int = 0
    orphans: int = 0
    kills: int = 0
    nats_restarts: int = 0
    retries: int = 0
    resumed: int = 0
    """Commands the provisioner took up again after a crash (its log says so)."""
    wall_seconds: float = 0.0
    check_exit: int | None = None
    check_output: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Nothing lost, doubled, stuck or orphaned, every command accepted, and the check
        (when it ran) found no drift."""
        zero = (self.lost, self.doubled, self.stuck, self.orphans, self.refused)
        return not any(zero) and self.check_exit in (0, None)


def count_commands(figures: Figures, commands: list[Command]) -> None:
    for command in commands:
        figures.accepted += command.accepted
        figures.paid += command.how == "paid" and command.accepted
        figures.canceled += command.how == "cancel" and command.accepted
        figures.completed += command.completed
        if command.accepted and not command.completed:
            figures.lost += 1
            figures.problems.append(f"lost: {_describe(command)}")
        elif not command.accepted:
            figures.refused += 1
            figures.problems.append(f"not accepted: {_describe(command)}")


def count_doubles(figures: Figures, commands: list[Command], machines: Machines) -> None:
    """Provider calls beyond one per accepted command, per user and operation."""
    sent = Counter((c.user_id, c.kind) for c in commands if c.accepted)
    for (user, op), times in machines.calls().items():
        extra = times - sent[(user, op)]
        if extra > 0:
            figures.doubled += extra
            figures.problems.append(f"doubled: {op} called {times}x for {sent[(user, op)]}")


def count_rows(figures: Figures, rows: list[dict[str, Any]], machines: Machines) -> None:
    """Stuck rows (transitional), and orphans both ways: a machine without a live row, a
    running, frozen or paused row without a machine."""
    held = machines.held()
    live = {row["id"]: row for row in rows if row["status"] in LIVE}
    for row in rows:
        if row["status"] in TRANSITIONAL:
            figures.stuck += 1
            figures.problems.append(f"stuck: instance {row['id']} {row['status']}")
    for machine in held:
        if machine.instance_id not in live:
            figures.orphans += 1
            figures.problems.append(f"orphan machine: {machine.provider_id} ({machine.user_id})")
    users = {machine.user_id for machine in held}
    for row in live.values():
        if row["status"] in ("running", "frozen", "paused") and row["user_id"] not in users:
            figures.orphans += 1
            figures.problems.append(f"row without machine: instance {row['id']}")


def count_instances(figures: Figures, rows: list[dict[str, Any]], commands: list[Command]) -> None:
    creates = Counter(c.user_id for c in commands if c.kind == "create" and c.accepted)
    made = Counter(str(row["user_id"]) for row in rows)
    for user, n in made.items():
        if n > creates[user]:
            figures.doubled += n - creates[user]
            figures.problems.append(f"doubled: {n} instances for {creates[user]} creates")


def run_check(nats_url: str) -> tuple[int | None, str]:
    """``claude-cloud-admin check --nats <url>``: its exit status and output; None when this
    installation's admin command has no ``check`` yet."""
    command = Path(sys.executable).parent / "claude-cloud-admin"
    try:
        done = subprocess.run(
            [str(command), "--nats", nats_url, "check"],
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, f"claude-cloud-admin check could not run: {exc}"
    output = (done.stdout + done.stderr).strip()
    if done.returncode == 2 and "No such command" in output:
        return None, "claude-cloud-admin has no check command yet: the counts above stand alone"
    return done.returncode, output


def count_resumed(figures: Figures, log_dir: Path) -> None:
    for log in log_dir.glob("provisioner*.log"):
        figures.resumed += log.read_text(errors="replace").count("event=instance.command_resumed")


def add_faults(figures: Figures, faults: FaultLog) -> None:
    figures.kills, figures.nats_restarts = faults.kills, faults.nats_restarts


def report(figures: Figures, faults: FaultLog) -> str:
    f = figures
    victims = ", ".join(f"{name} {n}" for name, n in sorted(faults.by_victim.items()))
    lines = [
        f"lifecycles        {f.lifecycles_done} of {f.lifecycles} completed",
        f"commands          accepted {f.accepted}, completed {f.completed}, "
        f"not accepted {f.refused}, client retries {f.retries}"
        + (f", paid creates {f.paid}, cancels {f.canceled}" if f.paid else ""),
        f"lost              {f.lost}",
        f"doubled           {f.doubled}   (provider calls beyond one per command; instances "
        "beyond one per create)",
        f"stuck             {f.stuck}",
        f"orphans           {f.orphans}",
        f"resumed           {f.resumed}   (commands the provisioner took up again after a crash)",
        f"kills             {f.kills} of {faults.planned_kills}   NATS restarts "
        f"{f.nats_restarts} of {faults.planned_nats_restarts}   ({victims})",
        f"check             {_check(f)}",
        f"wall time         {f.wall_seconds:.1f} s",
        f"verdict           {'CLEAN' if f.clean else 'DRIFT FOUND'}",
    ]
    lines += [f"  {p}" for p in f.problems[:40]]
    if f.check_output:
        lines += ["", "claude-cloud-admin check:", *(f"  {x}" for x in f.check_output.splitlines())]
    return "\n".join(lines)


def _check(f: Figures) -> str:
    if f.check_exit is None:
        return "not available (claude-cloud-admin has no check yet)"
    return f"exit {f.check_exit}"


def _describe(c: Command) -> str:
    return f"{c.kind} {c.instance_id or '(no id)'} after {c.attempts} tries: {c.outcome}"
