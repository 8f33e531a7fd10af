"""``claude-cloud plans``, ``subscribe``, ``usage``, ``budget`` and ``billing`` against a local
stand-in of the gateway, run as a person runs them (the installed command, its own process)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from claudecloud_common.contracts.instances import InstanceStatus

from .fake_gateway import TOKEN, FakeGateway, instance, series, serving

CLI = str(Path(sys.executable).parent / "claude-cloud")


class Cli:
    def __init__(self, gateway: FakeGateway, home: Path) -> None:
        self.opened = home / "opened"
        browser = home / "browser"
        browser.write_text(f'#!/bin/sh\necho "$1" >> {self.opened}\n')
        browser.chmod(0o755)
        (home / ".claude-cloud").mkdir(mode=0o700)
        (home / ".claude-cloud" / "token").write_text(TOKEN)
        self.env = {
            "HOME": str(home),
            "PATH": os.environ["PATH"],
            "CLAUDE_CLOUD_API": gateway.url,
            "BROWSER": str(browser),
            "COLUMNS": "120",
        }

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def ok(self, *args: str) -> str:
        done = self(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with serving(FakeGateway()) as fake:
        yield fake


@pytest.fixture
def cli(gateway: FakeGateway, tmp_path: Path) -> Cli:
    return Cli(gateway, tmp_path)


def test_plans_lists_each_with_its_machine(cli: Cli) -> None:
    out = cli.ok("plans").splitlines()
    assert out[0].startswith("starter")
    assert "$20 / month" in out[0]
    assert "40 h included, 1 CPU, 2 GB memory, 20 GB disk" in out[0]
    assert "4 CPUs" in out[1]
    assert "claude-cloud subscribe PLAN" in out[-1]


def test_subscribe_prints_and_opens_the_checkout_then_waits_for_the_workstation(
    cli: Cli, gateway: FakeGateway
) -> None:
    out = cli.ok("subscribe", "starter")
    url = "https://stripe.test/checkout/cs_1"
    assert f"Pay for starter here: {url}" in out
    assert cli.opened.read_text().split() == [url]
    assert out.rstrip().endswith("running")
    assert ("POST", "/billing/checkout", {"plan": "starter"}) in gateway.requests


def test_subscribe_to_an_unknown_plan_says_so_in_one_line(cli: Cli) -> None:
    done = cli("subscribe", "platinum")
    assert done.returncode == 1
    assert done.stderr.strip() == "claude-cloud: no plan 'platinum' (HTTP 404)"
    assert not cli.opened.exists()


def test_subscribe_gives_up_when_no_workstation_comes(cli: Cli, gateway: FakeGateway) -> None:
    gateway.instance_after_checkout = False
    done = cli("subscribe", "starter", "--timeout", "0")
    assert done.returncode == 1
    assert "no workstation after 0 s" in done.stderr


def test_usage_draws_a_row_a_day_with_the_pace_overage_and_claude(
    cli: Cli, gateway: FakeGateway
) -> None:
    out = cli.ok("usage").splitlines()
    assert out[0] == "Usage 2026-12-01 to 2026-12-04 (starter, period ends 2026-12-31)"
    rows = {line[:10]: line for line in out if line.startswith("2026-12-")}
    assert list(rows) == ["2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"]
    widest = rows["2026-12-04"]  # 8 h: the longest bar
    assert widest.count("█") == 32
    assert rows["2026-12-02"].count("█") == 8
    assert rows["2026-12-02"].count("░") == 24
    assert "█" not in rows["2026-12-03"]
    assert "░" not in rows["2026-12-03"]
    assert rows["2026-12-01"].rstrip().endswith("$1.25")
    # so far 4.0 against a pace of 10 h over 30 days (0.3 the first day): ahead
    assert "4.0!  0.3" in rows["2026-12-01"]
    assert "14.6 h used of 10 included; 109.5 h at the period's end" in out[-3]
    assert out[-2] == "Overage so far: $2.30 (4.6 h at $0.50 an hour); $49.75 projected"
    assert "billed by Anthropic to your own key" in out[-1]
    assert "$4.75" in out[-1]

    gateway.usage = series(billed_by="platform")
    assert "billed by Anthropic" not in cli.ok("usage")
    cli.ok("usage", "--from", "2026-11-01", "--to", "2026-11-30")
    assert gateway.requests[-1] == (
        "GET",
        "/billing/usage",
        {"from": "2026-11-01", "to": "2026-11-30"},
    )


def test_budget_set_show_and_clear(cli: Cli, gateway: FakeGateway) -> None:
    assert "No budget set" in cli.ok("budget", "show")
    out = cli.ok("budget", "set", "50", "--hard-stop")
    assert out.strip() == "Budget $50.00 a month (hard stop): $2.30 spent this period (5 %)"
    assert gateway.requests[-1] == (
        "PUT",
        "/me/budget",
        {"monthly_limit_usd": 50.0, "hard_stop": True},
    )
    assert "(hard stop)" in cli.ok("budget", "show")
    assert cli.ok("budget", "clear").strip() == "Budget cleared."
    assert gateway.requests[-1][:2] == ("DELETE", "/me/budget")
    assert cli("budget", "set", "-5").returncode != 0  # refused before any call


def test_billing_prints_and_opens_the_portal(cli: Cli) -> None:
    out = cli.ok("billing")
    assert "Your billing portal: https://stripe.test/portal/p1" in out
    assert cli.opened.read_text().split() == ["https://stripe.test/portal/p1"]


def test_status_ends_with_a_newline(cli: Cli, gateway: FakeGateway) -> None:
    gateway.instances.append(instance(InstanceStatus.RUNNING))
    out = cli.ok("status")
    assert out.endswith(": running (docker)\n")
